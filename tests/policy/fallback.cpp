#include <bulwark/pipeline.hpp>
#include <bulwark/policy/fallback.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>

using namespace std::chrono_literals;

TEST_CASE("fallback replaces a failure with a value", "[policy][fallback]") {
    bulwark::pipeline p{bulwark::fallback{std::string{"n/a"}}};
    CHECK(p.execute([]() -> std::string { throw std::runtime_error("down"); }) == "n/a");
    CHECK(p.execute([] { return std::string{"ok"}; }) == "ok");
}

TEST_CASE("fallback's handler gets the failure", "[policy][fallback]") {
    bulwark::failure seen{};
    bulwark::pipeline p{bulwark::fallback{[&](const bulwark::failure& f) {
        seen = f;
        return -1;
    }}};
    bulwark::test::scripted_op op{.fail_on = {1}};
    CHECK(p.execute(std::ref(op)) == -1);
    CHECK(seen.is_exception());
    CHECK(seen.holds<bulwark::test::scripted_failure>());
    CHECK(p.execute(std::ref(op)) == 42);

    auto policy_error = p.execute([]() -> bulwark::outcome<int> {
        return {bulwark::errc::circuit_open, 5s};
    });
    CHECK(policy_error == -1);
    CHECK(seen.code == bulwark::errc::circuit_open);
    CHECK(seen.retry_after == 5s);
}

TEST_CASE("fallback handlers may take the context, the outcome or nothing", "[policy][fallback]") {
    auto fail = []() -> int { throw std::runtime_error("x"); };
    bulwark::pipeline with_ctx{
        bulwark::fallback{[](const bulwark::failure&, bulwark::context& ctx) {
            return static_cast<int>(ctx.attempt()) * 10;
        }}};
    CHECK(with_ctx.execute(fail) == 10);
    bulwark::pipeline none{bulwark::fallback{[] { return 3; }}};
    CHECK(none.execute(fail) == 3);
    bulwark::pipeline whole{
        bulwark::fallback{[](const bulwark::outcome<int>& o) { return o.has_failure() ? 4 : 0; }}};
    CHECK(whole.execute(fail) == 4);
    bulwark::pipeline as_outcome{bulwark::fallback{
        [](const bulwark::failure&) -> bulwark::outcome<int> { return bulwark::errc::rejected; }}};
    CHECK(as_outcome.try_execute(fail).code() == bulwark::errc::rejected);
    int calls = 0;
    bulwark::pipeline for_void{bulwark::fallback{[&] { ++calls; }}};
    for_void.execute([] { throw std::runtime_error("x"); });
    CHECK(calls == 1);
}

TEST_CASE("fallback follows its classifier", "[policy][fallback]") {
    bulwark::pipeline only_system{
        bulwark::fallback{[] { return 0; }, bulwark::failure_on<std::system_error>}};
    CHECK_THROWS_AS(only_system.execute([]() -> int { throw std::runtime_error("not handled"); }),
                    std::runtime_error);
    CHECK(only_system.execute([]() -> int {
        throw std::system_error(std::make_error_code(std::errc::io_error));
    }) == 0);

    struct response {
        int status;
    };
    bulwark::failure seen{};
    bulwark::pipeline on_503{
        bulwark::fallback{[&](const bulwark::failure& f) {
                              seen = f;
                              return response{200};
                          },
                          bulwark::failure_if([](const response& r) { return r.status == 503; })}};
    CHECK(on_503.execute([] { return response{503}; }).status == 200);
    CHECK(seen.code == bulwark::errc::rejected);
    CHECK(on_503.execute([] { return response{404}; }).status == 404);
}

TEST_CASE("a throwing fallback handler's exception is the outcome", "[policy][fallback]") {
    bulwark::pipeline p{bulwark::fallback{
        [](const bulwark::failure&) -> int { throw std::logic_error("fallback failed"); }}};
    auto out = p.try_execute([]() -> int { throw std::runtime_error("x"); });
    CHECK(out.error().holds<std::logic_error>());
}

TEST_CASE("async fallback uses the same core", "[policy][fallback][async]") {
    bulwark::failure seen{};
    bulwark::pipeline p{bulwark::fallback{[&](const bulwark::failure& f) {
        seen = f;
        return 8;
    }}};
    auto failing = []() -> bulwark::task<int> {
        throw std::runtime_error("x");
        co_return 1;
    };
    CHECK(bulwark::sync_wait(p.async_execute(failing)) == 8);
    CHECK(seen.holds<std::runtime_error>());
}

TEST_CASE("fallback costs no space or allocation on the success path",
          "[policy][fallback][alloc]") {
    auto handler = [](const bulwark::failure&) { return 0; };
    STATIC_REQUIRE(sizeof(bulwark::fallback<decltype(handler)>) == 1);
    bulwark::pipeline p{bulwark::fallback{handler}};
    int sum = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 100; ++i)
        sum += p.execute([i] { return i; });
    CHECK(scope.count() == 0);
    CHECK(sum == 4950);
}
