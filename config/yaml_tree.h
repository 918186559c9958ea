#pragma once
// Internal to config/: a parsed YAML document as a compact tree, built in one pass from
// yaml-cpp's parser events. YAML::Load builds a graph of shared_ptr nodes kept in a
// std::set (about 3.6 KB per `{ name, lat, lon }` entry, most of the load time in malloc),
// and the loader walked the text a second time to find a second document. This tree costs a
// few hundred bytes per entry, and the same pass checks the nesting depth and notes where a
// second document starts. Aliases point at their anchor's node, as in yaml-cpp: nothing is
// copied, so an alias bomb stays small (the walk caps the work, see Diagnostics).
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace meridian::config::yaml {

enum class Type : uint8_t { Null, Scalar, Sequence, Map };

struct NodeData {
  Type type = Type::Null;
  bool plain = false;  // a scalar written without quotes or tag: only then is `<<` a merge key
  Mark mark;           // 1-based
  std::string scalar;
  std::vector<const NodeData*> children;  // a sequence's items; a map's keys and values in turn
};

// A handle on a node of a Document (which must outlive it); cheap to copy. A default Node
// is undefined: a key that is absent.
class Node {
 public:
  Node() = default;
  explicit Node(const NodeData* d) : d_(d) {}

  bool isDefined() const { return d_ != nullptr; }
  bool isNull() const { return d_ != nullptr && d_->type == Type::Null; }
  bool isScalar() const { return d_ != nullptr && d_->type == Type::Scalar; }
  bool isSequence() const { return d_ != nullptr && d_->type == Type::Sequence; }
  bool isMap() const { return d_ != nullptr && d_->type == Type::Map; }
  bool isPlain() const { return isScalar() && d_->plain; }
  const std::string& scalar() const;  // "" unless a scalar
  Mark mark() const { return d_ != nullptr ? d_->mark : Mark{1, 1}; }
  // Items of a sequence, or key/value pairs of a map.
  size_t size() const;
  Node item(size_t i) const { return Node(d_->children[i]); }
  Node key(size_t i) const { return Node(d_->children[2 * i]); }
  Node value(size_t i) const { return Node(d_->children[2 * i + 1]); }
  // The same node (an alias of it included).
  bool same(const Node& other) const { return d_ == other.d_; }

 private:
  const NodeData* d_ = nullptr;
};

// Thrown when lists and maps nest deeper than the limit given to parse().
struct TooDeep {
  Mark at;  // the list or map one level too deep
};

struct Document {
  Node root;                   // a null node at 1:1 when the text holds no node
  std::optional<Mark> second;  // where a second, non-empty document starts
  std::deque<NodeData> nodes;  // owns every node; a deque keeps their addresses
};

// Parses the first document of `text` and looks only at the start of a second one.
// Throws TooDeep past `max_depth` levels of lists and maps, and yaml-cpp's exceptions on a
// syntax error (the caller is in config/, where they are caught).
void parse(const std::string& text, int max_depth, Document& out);

}  // namespace meridian::config::yaml
