#pragma once
// The dashboard's page, style sheet, script and world outline, compiled into the binary from
// proxy/dashboard/ui/ (embed_assets.cmake writes them out as byte arrays at build time), so
// the page needs no network and no files next to the binary.
#include <cstddef>
#include <string_view>

namespace meridian::proxy {

struct Asset {
  std::string_view path;          // as requested: "/", "/ui/dashboard.js"
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// The asset served at `path`; null when there is none.
const Asset* findAsset(std::string_view path);

// Every asset (for tests and the size check).
extern const Asset kDashboardAssets[];
extern const size_t kDashboardAssetCount;

}  // namespace meridian::proxy
