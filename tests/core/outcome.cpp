#include <bulwark/core/classify.hpp>
#include <bulwark/core/outcome.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {
/// A minimal expected-like type (std::expected is C++23).
template <class T, class E>
struct expected {
    bool ok;
    T v{};
    E e{};
    bool has_value() const { return ok; }
    const E& error() const { return e; }
};
struct response {
    int status;
};
} // namespace

TEST_CASE("outcome holds a value or a failure", "[core][outcome]") {
    bulwark::outcome<std::string> ok{"hi"};
    CHECK(ok.has_value());
    CHECK(*ok == "hi");
    CHECK(ok->size() == 2);
    CHECK(ok.value() == "hi");

    bulwark::outcome<std::string> rejected{bulwark::errc::circuit_open, 3s};
    CHECK(rejected.has_failure());
    CHECK(rejected.code() == bulwark::errc::circuit_open);
    CHECK(rejected.error().retry_after == 3s);
    CHECK_THROWS_AS(rejected.value(), bulwark::resilience_error);

    bulwark::outcome<void> done = bulwark::outcome<void>::success();
    CHECK(done.has_value());
    done.value();
}

TEST_CASE("capture catches user exceptions once", "[core][outcome]") {
    auto o = bulwark::capture([]() -> int { throw std::invalid_argument("bad"); });
    REQUIRE(o.has_failure());
    CHECK(o.error().is_exception());
    CHECK(o.error().holds<std::logic_error>()); // base classes match
    CHECK_THROWS_AS(o.value(), std::invalid_argument);
    auto v = bulwark::capture([](int a) { return a * 2; }, 21);
    CHECK(*v == 42);
    auto passthrough =
        bulwark::capture([]() -> bulwark::outcome<int> { return bulwark::errc::timeout; });
    CHECK(passthrough.code() == bulwark::errc::timeout);
    auto nothing = bulwark::capture([] {});
    CHECK(nothing.has_value());
}

TEST_CASE("resilience_error carries a std::error_code of the bulwark category", "[core][outcome]") {
    std::error_code ec = bulwark::errc::rate_limited;
    CHECK(ec.category().name() == std::string{"bulwark"});
    CHECK(ec.message() == "rate limited");
    bulwark::resilience_error e{bulwark::errc::timeout, 1s};
    CHECK(e.kind() == bulwark::errc::timeout);
    CHECK(e.retry_after() == 1s);
}

TEST_CASE("default classifier: failures and expected-like errors fail", "[core][classify]") {
    bulwark::default_classifier c;
    CHECK(c(bulwark::outcome<int>{1}) == bulwark::verdict::success);
    CHECK(c(bulwark::outcome<int>{bulwark::errc::timeout}) == bulwark::verdict::failure);
    using exp = expected<int, std::string>;
    CHECK(c(bulwark::outcome<exp>{exp{true, 1}}) == bulwark::verdict::success);
    CHECK(c(bulwark::outcome<exp>{exp{false, 0, "nope"}}) == bulwark::verdict::failure);
}

TEST_CASE("failure_if and ignore_if classify results", "[core][classify]") {
    auto is_503 = bulwark::failure_if([](const response& r) { return r.status == 503; });
    CHECK(is_503(bulwark::outcome<response>{response{503}}) == bulwark::verdict::failure);
    CHECK(is_503(bulwark::outcome<response>{response{200}}) == bulwark::verdict::success);
    CHECK(is_503(bulwark::outcome<response>{bulwark::errc::timeout}) == bulwark::verdict::failure);

    auto not_found = bulwark::ignore_if([](const response& r) { return r.status == 404; });
    CHECK(not_found(bulwark::outcome<response>{response{404}}) == bulwark::verdict::ignore);
    CHECK(not_found(bulwark::outcome<response>{response{500}}) == bulwark::verdict::success);

    auto by_outcome = bulwark::failure_if(
        [](const bulwark::outcome<response>& o) { return o.has_value() && o->status >= 500; });
    CHECK(by_outcome(bulwark::outcome<response>{response{502}}) == bulwark::verdict::failure);
}

TEST_CASE("failure_on counts only listed exception types", "[core][classify]") {
    constexpr auto c = bulwark::failure_on<std::runtime_error>;
    auto rt = bulwark::capture([]() -> int { throw std::runtime_error("x"); });
    auto logic = bulwark::capture([]() -> int { throw std::logic_error("x"); });
    CHECK(c(rt) == bulwark::verdict::failure);
    CHECK(c(logic) == bulwark::verdict::ignore);
    CHECK(c(bulwark::outcome<int>{bulwark::errc::timeout}) == bulwark::verdict::failure);
    CHECK(c(bulwark::outcome<int>{3}) == bulwark::verdict::success);
}

TEST_CASE("classify_with adapts a generic lambda", "[core][classify]") {
    bulwark::classify_with c{[](const auto& o) {
        return o.has_value() ? bulwark::verdict::ignore : bulwark::verdict::failure;
    }};
    STATIC_REQUIRE(bulwark::classifier_for<decltype(c), int>);
    CHECK(c(bulwark::outcome<int>{1}) == bulwark::verdict::ignore);
}
