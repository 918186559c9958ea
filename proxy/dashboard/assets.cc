#include "proxy/dashboard/assets.h"

namespace meridian::proxy {

const Asset* findAsset(std::string_view path) {
  for (size_t i = 0; i < kDashboardAssetCount; ++i) {
    if (kDashboardAssets[i].path == path) return &kDashboardAssets[i];
  }
  return nullptr;
}

}  // namespace meridian::proxy
