#include <bulwark/core/context.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace std::chrono_literals;

TEST_CASE("a context is created without allocating", "[core][context][alloc]") {
    bulwark::test::alloc_scope scope;
    {
        bulwark::context ctx;
        ctx.headers().set(bulwark::header::correlation_id, "7f1c2a9e-0b6e-4a63-9a4f-1d2c3b4a5f60");
        ctx.headers().set(bulwark::header::traceparent,
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        CHECK_FALSE(ctx.stop_requested());
        ctx.set_attempt(2);
    }
    CHECK(scope.count() == 0);
}

TEST_CASE("deadlines only tighten, and scoped deadlines restore", "[core][context]") {
    bulwark::context ctx;
    CHECK_FALSE(ctx.has_deadline());
    CHECK(ctx.remaining(bulwark::time_point{}) == bulwark::duration::max());
    auto t0 = bulwark::time_point{};
    ctx.tighten_deadline(t0 + 10s);
    ctx.tighten_deadline(t0 + 20s); // later: ignored
    CHECK(ctx.deadline() == t0 + 10s);
    {
        bulwark::scoped_deadline attempt(ctx, t0 + 3s);
        CHECK(ctx.deadline() == t0 + 3s);
        {
            bulwark::scoped_deadline wider(ctx, t0 + 5s); // cannot extend
            CHECK(ctx.deadline() == t0 + 3s);
        }
    }
    CHECK(ctx.deadline() == t0 + 10s);
    CHECK(ctx.remaining(t0 + 4s) == 6s);
    CHECK(ctx.expired(t0 + 10s));
    CHECK_FALSE(ctx.expired(t0 + 9s));
}

TEST_CASE("stop: own source is lazy and follows the caller's token", "[core][context]") {
    std::stop_source caller;
    bulwark::context ctx{caller.get_token()};
    CHECK_FALSE(ctx.stop_requested());
    auto token = ctx.stop_token();
    caller.request_stop();
    CHECK(ctx.stop_requested());
    CHECK(token.stop_requested());

    bulwark::context own;
    auto t2 = own.stop_token();
    CHECK(own.request_stop());
    CHECK(t2.stop_requested());
    CHECK_FALSE(own.request_stop());
}

TEST_CASE("a child context inherits and is cancelled by its parent only", "[core][context]") {
    bulwark::context parent{bulwark::time_point{} + 5s};
    parent.headers().set("x-tenant", "t1");
    parent.set_attempt(3);
    parent.set_hash_key(42u);
    {
        bulwark::context child{bulwark::context::child, parent};
        CHECK(child.deadline() == parent.deadline());
        CHECK(child.headers().get("X-Tenant") == "t1");
        CHECK(child.attempt() == 3);
        CHECK(child.hash_key() == 42u);
        child.request_stop();
        CHECK_FALSE(parent.stop_requested());
    }
    bulwark::context child2{bulwark::context::child, parent};
    parent.request_stop();
    CHECK(child2.stop_requested());
}

TEST_CASE("tried endpoints are remembered", "[core][context]") {
    bulwark::context ctx;
    auto e = [](std::uintptr_t i) {
        return reinterpret_cast<const bulwark::endpoint_identity*>(i * 16);
    };
    ctx.set_endpoint(e(1));
    ctx.set_endpoint(e(2));
    ctx.set_endpoint(e(1)); // already tried: not counted twice
    CHECK(ctx.endpoint() == e(1));
    CHECK(ctx.was_tried(e(2)));
    CHECK_FALSE(ctx.was_tried(e(3)));
    CHECK(ctx.tried_count() == 2);
}

TEST_CASE("user data is typed", "[core][context]") {
    bulwark::context ctx;
    std::string tenant = "acme";
    ctx.set_user_data(&tenant);
    CHECK(ctx.user_data<std::string>() == &tenant);
    CHECK(ctx.user_data<int>() == nullptr);
}

TEST_CASE("hash keys from text are stable", "[core][context]") {
    bulwark::context a, b;
    a.set_hash_key(std::string_view{"user-7"});
    b.set_hash_key(std::string_view{"user-7"});
    CHECK(a.hash_key() == b.hash_key());
    b.set_hash_key(std::string_view{"user-8"});
    CHECK(a.hash_key() != b.hash_key());
}
