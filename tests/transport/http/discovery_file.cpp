// The static-file discovery source: a JSON file in a temp dir, reloaded on change; bad files
// never reach the registry.

#if BULWARK_TEST_HAS_JSON

#include <bulwark/balance/discovery/file_source.hpp>
#include <bulwark/balance/registry.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;

namespace {
struct temp_file {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("bulwark-endpoints-" + std::to_string(::getpid()) + ".json");
    ~temp_file() { std::filesystem::remove(path); }
    void write(const std::string& text) const {
        const auto tmp = path.string() + ".tmp";
        std::ofstream(tmp) << text;
        std::filesystem::rename(tmp, path); // atomic replace, as config tools do
    }
};
} // namespace

TEST_CASE("file discovery: the registry follows the file", "[transport][http][discovery]") {
    temp_file f;
    f.write(R"({"endpoints": [{"address": "10.0.0.1:80", "weight": 2, "zone": "a",
                               "metadata": {"v": "1"}},
                              {"address": "10.0.0.2:80"}]})");
    bulwark::file_discovery src(f.path, {.poll_interval = 0s});
    bulwark::registry reg;
    reg.attach(src);
    REQUIRE(reg.size() == 2);
    CHECK(reg.find("10.0.0.1:80")->weight() == 2);
    CHECK(reg.find("10.0.0.1:80")->metadata().at("v") == "1");

    f.write(R"([{"address": "10.0.0.2:80"}, {"address": "10.0.0.3:80", "zone": "b"}])");
    CHECK(src.reload_now());
    CHECK(reg.size() == 2);
    CHECK(reg.find("10.0.0.1:80") == nullptr);
    CHECK(reg.in_zone("b").size() == 1);

    for (const char* bad :
         {"{not json", R"([{"weight": 1}])", R"([{"address": "x:1", "weight": 0}])",
          R"([{"address": "x:1"}, {"address": "x:1"}])", R"({"endpoints": 3})"}) {
        f.write(bad);
        CHECK_FALSE(src.reload_now());
        CHECK_FALSE(src.last_error().empty());
        CHECK(reg.size() == 2); // the last good list stays
    }
    std::filesystem::remove(f.path);
    CHECK_FALSE(src.reload_now());
    CHECK(reg.size() == 2);
}

TEST_CASE("file discovery: a changed file is picked up by the poll thread",
          "[transport][http][discovery]") {
    temp_file f;
    f.write(R"([{"address": "10.0.0.1:80"}])");
    bulwark::file_discovery src(f.path, {.poll_interval = 10ms});
    bulwark::registry reg;
    reg.attach(src);
    f.write(R"([{"address": "10.0.0.1:80"}, {"address": "10.0.0.9:80"}])");
    for (int i = 0; i < 1000 && reg.size() != 2; ++i) // bounded: only stops a hang
        std::this_thread::sleep_for(5ms);
    CHECK(reg.size() == 2);
}

TEST_CASE("file discovery: a missing file fails at construction with a clear error",
          "[transport][http][discovery]") {
    CHECK_THROWS_AS(bulwark::file_discovery("/nonexistent/endpoints.json"),
                    bulwark::invalid_argument_error);
}

#else
#include <catch2/catch.hpp>
TEST_CASE("file discovery (needs nlohmann-json)", "[transport][http][discovery]") {
    WARN("skipped: bulwark::json is missing in this build");
}
#endif
