#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/delivery.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/policy/circuit_breaker/options.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <stdexcept>
#include <string>

TEST_CASE("public enums have to_string and operator<<", "[core][names]") {
    CHECK(bulwark::to_string(bulwark::errc::circuit_open) == "circuit_open");
    CHECK(bulwark::to_string(bulwark::errc::rejected) == "rejected");
    CHECK(bulwark::to_string(static_cast<bulwark::errc>(999)) == "unknown");
    CHECK(bulwark::to_string(bulwark::breaker_state::half_open) == "half_open");
    CHECK(bulwark::to_string(bulwark::delivery_state::dead_lettered) == "dead_lettered");
    CHECK(bulwark::to_string(bulwark::dead_letter_kind::malformed) == "malformed");
    std::ostringstream os;
    os << bulwark::breaker_state::open << ' ' << bulwark::errc::timeout << ' '
       << bulwark::delivery_state::acked << ' ' << bulwark::dead_letter_kind::failed;
    CHECK(os.str() == "open timeout acked failed");
    static_assert(bulwark::to_string(bulwark::errc::queue_full) == "queue_full"); // constexpr
}

TEST_CASE("failure::message carries the caught exception's what()", "[core][names]") {
    bulwark::failure f;
    try {
        throw std::runtime_error("connection reset");
    } catch (...) {
        f = bulwark::failure::current_exception();
    }
    CHECK(f.message() == "the operation threw an exception: connection reset");
    try {
        throw 42;
    } catch (...) {
        f = bulwark::failure::current_exception();
    }
    CHECK(f.message() == "the operation threw an exception: (not a std::exception)");
    bulwark::failure open{bulwark::errc::circuit_open};
    CHECK(open.message() == bulwark::make_error_code(bulwark::errc::circuit_open).message());
}
