#include <bulwark/runtime/task.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

namespace {
bulwark::task<int> answer() {
    co_return 42;
}
bulwark::task<int> add(int a) {
    co_return a + co_await answer();
}
bulwark::task<void> fail() {
    throw std::runtime_error("fail");
    co_return;
}
bulwark::task<std::string> deep(int n) {
    if (n == 0)
        co_return std::string{"bottom"};
    co_return co_await deep(n - 1);
}
} // namespace

TEST_CASE("tasks are lazy and compose", "[runtime][task]") {
    bool started = false;
    // A capturing lambda coroutine must outlive its task (the frame refers to the closure).
    auto body = [&]() -> bulwark::task<int> {
        started = true;
        co_return 1;
    };
    auto t = body();
    CHECK_FALSE(started);
    CHECK(bulwark::sync_wait(std::move(t)) == 1);
    CHECK(started);
    CHECK(bulwark::sync_wait(add(1)) == 43);
}

TEST_CASE("exceptions travel to the awaiter", "[runtime][task]") {
    CHECK_THROWS_AS(bulwark::sync_wait(fail()), std::runtime_error);
    auto s = bulwark::spawn(fail());
    REQUIRE(s.done());
    CHECK_THROWS_AS(s.get(), std::runtime_error);
}

TEST_CASE("deep chains of awaiting tasks complete", "[runtime][task]") {
    CHECK(bulwark::sync_wait(deep(2000)) == "bottom");
}
