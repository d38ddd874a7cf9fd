// The time vocabulary of core/ (core/time_types.hpp). The clocks are tested where they live:
// tests/runtime/steady_clock.cpp and tests/testing/manual_clock.cpp.
#include <bulwark/core/time_types.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

TEST_CASE("saturating_add never overflows", "[core][time]") {
    CHECK(bulwark::saturating_add(bulwark::time_point{} + 1s, bulwark::duration::max()) ==
          bulwark::no_deadline);
    CHECK(bulwark::saturating_add(bulwark::time_point{}, 1s) == bulwark::time_point{} + 1s);
}
