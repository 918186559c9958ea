#include "config/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace meridian::config::yaml {

namespace {

// Ends the look at a second document at its first node: where it starts is all we report.
struct SecondFound {
  Mark at;
};

Mark markOf(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return Mark{1, 1};
  return Mark{m.line + 1, m.column + 1};
}

class Builder : public YAML::EventHandler {
 public:
  Builder(Document& doc, int max_depth) : doc_(doc), max_depth_(max_depth) {}

  // After the first document: no more building, only where the next one starts.
  void probeOnly() { probe_only_ = true; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override {
    if (!probe_only_) add(m, anchor, Type::Null);
  }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    // yaml-cpp resolves the name and refuses an unknown one before calling us.
    if (anchor == 0 || anchor > anchors_.size()) return OnNull(m, 0);
    found(m);
    attach(anchors_[anchor - 1]);
  }
  void OnScalar(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    found(m);
    NodeData* n = add(m, anchor, Type::Scalar);
    n->scalar = value;
    n->plain = tag == "?";
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    found(m);
    open(add(m, anchor, Type::Sequence));
  }
  void OnSequenceEnd() override { open_.pop_back(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    found(m);
    open(add(m, anchor, Type::Map));
  }
  void OnMapEnd() override { open_.pop_back(); }

 private:
  void found(const YAML::Mark& m) {
    if (probe_only_) throw SecondFound{markOf(m)};
  }
  NodeData* add(const YAML::Mark& m, YAML::anchor_t anchor, Type type) {
    NodeData& n = doc_.nodes.emplace_back();
    n.type = type;
    n.mark = markOf(m);
    if (anchor != 0) {
      // Anchors are numbered from 1 in the order they appear.
      if (anchors_.size() < anchor) anchors_.resize(anchor, nullptr);
      anchors_[anchor - 1] = &n;
    }
    attach(&n);
    return &n;
  }
  void attach(const NodeData* n) {
    if (n == nullptr) return;
    if (!open_.empty()) {
      open_.back()->children.push_back(n);
    } else if (!doc_.root.isDefined()) {
      doc_.root = Node(n);
    }
  }
  void open(NodeData* n) {
    open_.push_back(n);
    if (static_cast<int>(open_.size()) > max_depth_) throw TooDeep{n->mark};
  }

  Document& doc_;
  int max_depth_;
  bool probe_only_ = false;
  std::vector<NodeData*> open_;            // the lists and maps being filled, innermost last
  std::vector<const NodeData*> anchors_;   // by anchor number - 1
};

const std::string kEmpty;

}  // namespace

const std::string& Node::scalar() const {
  return isScalar() ? d_->scalar : kEmpty;
}

size_t Node::size() const {
  if (isSequence()) return d_->children.size();
  if (isMap()) return d_->children.size() / 2;
  return 0;
}

void parse(const std::string& text, int max_depth, Document& out) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  Builder builder(out, max_depth);
  parser.HandleNextDocument(builder);
  if (!out.root.isDefined()) {
    NodeData& null = out.nodes.emplace_back();
    null.mark = Mark{1, 1};
    out.root = Node(&null);
  }
  // YAML::LoadAll is not used: on some malformed input yaml-cpp 0.7 reports empty documents
  // forever, so we look at one more document, and only at its start.
  builder.probeOnly();
  try {
    parser.HandleNextDocument(builder);
  } catch (const SecondFound& s) {
    out.second = s.at;
  }
}

}  // namespace meridian::config::yaml
