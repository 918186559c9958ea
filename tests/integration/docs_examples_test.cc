// The configs the docs show are configs Meridian accepts: each ```yaml block is taken from the
// page as it is and given to `meridian validate`, next to a `meridian certs dev` certificate
// where the example serves TLS. An example that rots fails here, not on a reader.
#include <string>
#include <vector>

#include "tests/integration/proxy_fixture.h"

namespace meridian::integration {
namespace {

// The ```yaml blocks of a Markdown page, in order, after the heading `from` (all if empty).
std::vector<std::string> yamlBlocks(const std::string& page, const std::string& from = "") {
  std::vector<std::string> blocks;
  size_t at = from.empty() ? 0 : page.find("\n" + from + "\n");
  if (at == std::string::npos) return blocks;
  while ((at = page.find("\n```yaml\n", at)) != std::string::npos) {
    size_t start = at + 9;
    size_t end = page.find("\n```", start);
    if (end == std::string::npos) break;
    blocks.push_back(page.substr(start, end - start + 1));
    at = end + 4;
  }
  return blocks;
}

std::string sourceFile(const std::string& path) {
  return fakes::readFile(std::string(MERIDIAN_SOURCE_DIR) + "/" + path);
}

// `meridian validate -c meridian.yaml` in `dir`, where the example's relative paths point.
fakes::CommandResult validateIn(const fakes::TempDir& dir, const std::string& yaml) {
  dir.write("meridian.yaml", yaml);
  return fakes::runCommand({"bash", "-c",
                            "cd '" + dir.path() + "' && exec \"$0\" validate -c meridian.yaml",
                            fakes::meridianBinary()},
                           milliseconds(10000));
}

TEST(DocsExamples, ConfigReferenceExampleValidates) {
  std::string page = sourceFile("docs/config.md");
  ASSERT_FALSE(page.empty());
  std::vector<std::string> blocks = yamlBlocks(page, "## Example");
  ASSERT_EQ(blocks.size(), 1u) << "the Example section holds one yaml block";
  const std::string& yaml = blocks[0];
  // Complete: every top-level section of the reference is there.
  for (const char* key : {"workers:", "watch:", "access_log:", "listeners:", "admin:", "geo:",
                          "regions:", "clusters:", "routes:", "limits:"})
    EXPECT_NE(yaml.find("\n" + std::string(key)), std::string::npos) << key;

  fakes::TempDir dir("docs-example");
  auto certs = fakes::runCommand({fakes::meridianBinary(), "certs", "dev", "--hosts",
                                  "app.example.com,localhost", "--out", dir.file("certs")},
                                 milliseconds(10000));
  ASSERT_EQ(certs.exitCode, 0) << certs.describe();
  auto r = validateIn(dir, yaml);
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << yaml;
  EXPECT_EQ(r.out, "ok\n");
}

TEST(DocsExamples, ReadmeMinimalConfigValidates) {
  std::vector<std::string> blocks = yamlBlocks(sourceFile("README.md"), "## Using it");
  ASSERT_FALSE(blocks.empty());
  fakes::TempDir dir("readme-example");
  auto r = validateIn(dir, blocks[0]);
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << blocks[0];
  EXPECT_EQ(r.out, "ok\n");
}

}  // namespace
}  // namespace meridian::integration
