#include "proxy/http/h2_fields.h"

#include <charconv>

namespace meridian::proxy::h2 {

void FieldList::clear() {
  own_.clear();
  fields_.clear();
}

FieldList::Ref FieldList::own(std::string_view s) {
  Ref r{nullptr, own_.size(), s.size()};
  own_.append(s);
  return r;
}

void FieldList::add(std::string_view name, std::string_view value) {
  fields_.push_back({{name.data(), 0, name.size()}, {value.data(), 0, value.size()}});
}

void FieldList::addLowered(std::string_view name, std::string_view value) {
  Ref n = own(name);
  for (size_t i = n.off; i < own_.size(); ++i) {
    char c = own_[i];
    if (c >= 'A' && c <= 'Z') own_[i] = static_cast<char>(c - 'A' + 'a');
  }
  fields_.push_back({n, {value.data(), 0, value.size()}});
}

void FieldList::addNumber(std::string_view name, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;  // 24 digits always suffice
  fields_.push_back({{name.data(), 0, name.size()}, own(std::string_view(digits, end - digits))});
}

std::vector<nghttp2_nv>& FieldList::nva() {
  nva_.clear();
  for (const auto& [n, v] : fields_) {
    nva_.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(resolve(n))),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(resolve(v))), n.len, v.len,
                    NGHTTP2_NV_FLAG_NONE});
  }
  return nva_;
}

FieldList& scratchFields() {
  thread_local FieldList list;
  return list;
}

}  // namespace meridian::proxy::h2
