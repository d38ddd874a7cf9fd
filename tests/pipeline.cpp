#include <bulwark/pipeline.hpp>

#include "support/alloc_counter.hpp"
#include "support/scripted.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// Records the order in which policies enter and leave.
struct tracer {
    std::vector<std::string>* log;
    std::string name;
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        log->push_back(name + ">");
        auto out = next(ctx);
        log->push_back("<" + name);
        return out;
    }
    template <class Next>
    bulwark::next_result_t<Next> async_execute(Next&& next, bulwark::context& ctx) {
        log->push_back(name + ">");
        auto out = co_await next(ctx);
        log->push_back("<" + name);
        co_return out;
    }
};

/// A user policy that retries once on any failure (shows a policy calling next twice).
struct retry_once {
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {
        auto out = next(ctx);
        if (out.has_value())
            return out;
        ctx.set_attempt(ctx.attempt() + 1);
        return next(ctx);
    }
};

/// A user policy that rejects every call with a bulwark error (no exception).
struct reject_all {
    template <class Next>
    bulwark::next_result_t<Next> execute(Next&&, bulwark::context&) {
        return {bulwark::errc::rejected, 5s};
    }
};

#define BULWARK_TEST_EMPTY_POLICY(name)                                                            \
    struct name {                                                                                  \
        template <class Next>                                                                      \
        bulwark::next_result_t<Next> execute(Next&& next, bulwark::context& ctx) {                 \
            return next(ctx);                                                                      \
        }                                                                                          \
    }
BULWARK_TEST_EMPTY_POLICY(empty_a);
BULWARK_TEST_EMPTY_POLICY(empty_b);
BULWARK_TEST_EMPTY_POLICY(empty_c);

struct runtime_timeout : bulwark::pass_through {
    bool total;
    bulwark::policy_kind runtime_kind() const {
        return total ? bulwark::policy_kind::total_timeout : bulwark::policy_kind::attempt_timeout;
    }
};
struct my_retry : retry_once {
    static constexpr auto kind = bulwark::policy_kind::retry;
};

} // namespace

TEST_CASE("pipeline runs policies outermost first", "[pipeline]") {
    std::vector<std::string> log;
    bulwark::pipeline p{tracer{&log, "a"}, tracer{&log, "b"}, tracer{&log, "c"}};
    int v = p.execute([&] {
        log.push_back("op");
        return 7;
    });
    CHECK(v == 7);
    CHECK(log == std::vector<std::string>{"a>", "b>", "c>", "op", "<c", "<b", "<a"});
}

TEST_CASE("pipeline passes the context down and accepts op() and op(ctx)", "[pipeline]") {
    bulwark::pipeline p{bulwark::pass_through{}};
    bulwark::context ctx;
    ctx.headers().set(bulwark::header::correlation_id, "c-1");
    auto seen = p.execute(
        [](bulwark::context& c) { return std::string{*c.headers().get("Correlation-ID")}; }, ctx);
    CHECK(seen == "c-1");
    CHECK(p.execute([] { return 3; }) == 3);
    p.execute([] {}); // void operations
}

TEST_CASE("user exceptions are rethrown as thrown; try_execute returns them", "[pipeline]") {
    bulwark::pipeline p{bulwark::pass_through{}, bulwark::pass_through{}};
    auto op = []() -> int { throw std::out_of_range("boom"); };
    CHECK_THROWS_AS(p.execute(op), std::out_of_range);
    auto out = p.try_execute(op);
    REQUIRE(out.has_failure());
    CHECK(out.code() == bulwark::errc::exception);
    CHECK(out.error().holds<std::out_of_range>());
    CHECK_FALSE(out.error().holds<std::invalid_argument>());
}

TEST_CASE("policy failures surface as resilience_error or as outcome codes", "[pipeline]") {
    bulwark::pipeline p{reject_all{}};
    int calls = 0;
    auto op = [&] { return ++calls; };
    try {
        p.execute(op);
        FAIL("expected a resilience_error");
    } catch (const bulwark::resilience_error& e) {
        CHECK(e.kind() == bulwark::errc::rejected);
        CHECK(e.retry_after() == 5s);
        CHECK(e.code() == bulwark::errc::rejected);
    }
    auto out = p.try_execute(op);
    CHECK(out.code() == bulwark::errc::rejected);
    CHECK(calls == 0);
}

TEST_CASE("a user policy composes with the chain and sees outcomes", "[pipeline]") {
    bulwark::test::scripted_op op{.fail_on = {1}, .value = 9};
    bulwark::pipeline p{bulwark::pass_through{}, retry_once{}};
    CHECK(p.execute(std::ref(op)) == 9);
    CHECK(op.calls == 2);
    CHECK(op.attempts_seen == std::vector<std::uint32_t>{1, 2});
}

TEST_CASE("operations may return outcome<R> directly", "[pipeline]") {
    bulwark::pipeline p{retry_once{}};
    int calls = 0;
    auto out = p.try_execute([&]() -> bulwark::outcome<int> {
        if (++calls == 1)
            return bulwark::errc::transport_error;
        return 5;
    });
    REQUIRE(out.has_value());
    CHECK(*out == 5);
}

TEST_CASE("policies are shared with std::ref and reachable with get<I>", "[pipeline]") {
    std::vector<std::string> log;
    tracer shared{&log, "s"};
    bulwark::pipeline p1{std::ref(shared)};
    bulwark::pipeline p2{std::ref(shared), bulwark::pass_through{}};
    p1.execute([] { return 1; });
    p2.execute([] { return 2; });
    CHECK(log.size() == 4);
    CHECK(&p1.get<0>() == &shared);
}

TEST_CASE("empty policies cost no space", "[pipeline]") {
    STATIC_REQUIRE(sizeof(bulwark::pipeline<empty_a, empty_b, empty_c>) == 1);
    STATIC_REQUIRE(std::is_empty_v<bulwark::pass_through>);
}

TEST_CASE("the success path allocates nothing", "[pipeline][alloc]") {
    bulwark::pipeline p{bulwark::pass_through{}, empty_a{}, empty_b{}, empty_c{}, retry_once{}};
    int sum = 0;
    bulwark::test::alloc_scope scope;
    for (int i = 0; i < 1000; ++i)
        sum += p.execute([i] { return i; });
    CHECK(scope.count() == 0);
    CHECK(sum == 999 * 1000 / 2);
}

TEST_CASE("composition rules are checked when kinds depend on settings", "[pipeline]") {
    CHECK_NOTHROW(
        bulwark::pipeline{runtime_timeout{{}, true}, my_retry{}, runtime_timeout{{}, false}});
    CHECK_THROWS_WITH(bulwark::pipeline(runtime_timeout{{}, true}, runtime_timeout{{}, true}),
                      Catch::Contains("two total timeouts"));
    CHECK_THROWS_WITH(bulwark::pipeline(runtime_timeout{{}, false}, my_retry{}),
                      Catch::Contains("per-attempt timeout is outside"));
    CHECK_THROWS_WITH(bulwark::pipeline(my_retry{}, runtime_timeout{{}, true}),
                      Catch::Contains("total timeout is inside"));
}

TEST_CASE("async_execute runs the same chain as a coroutine", "[pipeline][async]") {
    std::vector<std::string> log;
    bulwark::pipeline p{tracer{&log, "a"}, bulwark::pass_through{}, tracer{&log, "b"}};
    bulwark::manual_clock clock;
    auto t = p.async_execute([&]() -> bulwark::task<int> {
        log.push_back("op");
        co_await clock.async_sleep_for(10ms, {});
        co_return 11;
    });
    auto running = bulwark::spawn(std::move(t));
    CHECK_FALSE(running.done());
    CHECK(log == std::vector<std::string>{"a>", "b>", "op"});
    clock.advance(10ms);
    REQUIRE(running.done());
    CHECK(running.get() == 11);
    CHECK(log == std::vector<std::string>{"a>", "b>", "op", "<b", "<a"});
}

TEST_CASE("async_execute carries exceptions and failures", "[pipeline][async]") {
    bulwark::pipeline p{bulwark::pass_through{}};
    auto failing = []() -> bulwark::task<int> {
        throw std::length_error("x");
        co_return 1;
    };
    CHECK_THROWS_AS(bulwark::sync_wait(p.async_execute(failing)), std::length_error);
    bulwark::context ctx;
    auto out = bulwark::sync_wait(p.async_try_execute(failing, ctx));
    CHECK(out.error().holds<std::length_error>());
}
