#pragma once
// The fields of one HEADERS frame in the form nghttp2 takes (nghttp2_nv), built without a
// string per field. Names and values that outlive the submit (a parsed head's bytes, literals)
// are pointed at; lower-cased names and numbers are written once into one shared store.
// nghttp2 copies everything when the frame is submitted, so a list lives only for that call.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::proxy::h2 {

class FieldList {
 public:
  void clear();
  // `name` must be lower case already; both views must stay valid until nva().
  void add(std::string_view name, std::string_view value);
  // Copies `name` lower-cased; `value` must stay valid until nva().
  void addLowered(std::string_view name, std::string_view value);
  void addNumber(std::string_view name, uint64_t value);
  size_t size() const { return fields_.size(); }
  // The array to submit. Valid until the list changes.
  std::vector<nghttp2_nv>& nva();

 private:
  // Where a name or value is: outside (ptr) or at an offset into own_ (ptr == nullptr).
  struct Ref {
    const char* ptr;
    size_t off;
    size_t len;
  };
  Ref own(std::string_view s);
  const char* resolve(const Ref& r) const { return r.ptr != nullptr ? r.ptr : own_.data() + r.off; }

  std::string own_;
  std::vector<std::pair<Ref, Ref>> fields_;
  std::vector<nghttp2_nv> nva_;
};

// One list per thread, reused: a response head costs no allocation once warm. Callers clear()
// it first and submit before anything else can use it (submitting calls back nothing).
FieldList& scratchFields();

}  // namespace meridian::proxy::h2
