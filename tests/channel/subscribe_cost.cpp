// Subscribe/unsubscribe allocation and reclamation of the copy-on-write subscriber lists: a warm
// list reuses its retired snapshots, so a subscribe + unsubscribe pair allocates only the
// handler's node, and removed handlers are destroyed once no snapshot can list them.

#include <bulwark/channel/bus.hpp>

#include "support/alloc_counter.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct ping {
    static constexpr std::string_view subject = "test.ping";
    int value = 1;
};
using ping_topics = bulwark::topics<ping>;

template <class Policy>
void check_one_allocation_per_pair() {
    bulwark::bus<ping_topics, Policy> bus;
    long sum = 0;
    std::vector<bulwark::subscription> subs;
    for (int i = 0; i < 10; ++i)
        subs.push_back(bus.template subscribe<ping>([&sum](const ping& p) { sum += p.value; }));
    auto pair = [&] {
        auto s = bus.template subscribe<ping>([&sum](const ping& p) { sum += p.value; });
        s.unsubscribe();
    };
    for (int i = 0; i < 1000; ++i) // warm: the pool fills at the first reclamation
        pair();
    bulwark::test::alloc_scope scope;
    constexpr std::size_t pairs = 1000;
    for (std::size_t i = 0; i < pairs; ++i)
        pair();
    if (bulwark::test::alloc_counting_enabled())
        CHECK(scope.count() == pairs); // the node of each subscribe, nothing else
    CHECK(bus.publish(ping{}) == 10);
    CHECK(sum == 10);
}

} // namespace

TEST_CASE("bus: a subscribe + unsubscribe pair allocates only the handler's node",
          "[channel][bus][alloc]") {
    SECTION("multi_threaded") {
        check_one_allocation_per_pair<bulwark::multi_threaded>();
    }
    SECTION("single_threaded") {
        check_one_allocation_per_pair<bulwark::single_threaded>();
    }
}

TEST_CASE("bus: removed handlers are destroyed once reclaimed, and all of them with the bus",
          "[channel][bus][alloc]") {
    auto alive = std::make_shared<int>(0);
    {
        bulwark::bus<ping_topics> bus;
        // Many more pairs than the reclamation batch: destroyed handlers do not pile up.
        for (int i = 0; i < 1000; ++i) {
            auto s = bus.subscribe<ping>([keep = alive](const ping&) {});
            s.unsubscribe();
        }
        CHECK(alive.use_count() <= 1 + 64);
        auto last = bus.subscribe<ping>([keep = alive](const ping&) {});
        CHECK(bus.publish(ping{}) == 1);
    }
    CHECK(alive.use_count() == 1); // the bus's end destroyed every node
}

TEST_CASE("bus: with one thread holding a hazard record, a removed handler is destroyed at once; "
          "while another thread holds one, it waits for the batched reclamation",
          "[channel][bus][alloc][concurrency]") {
    auto& domain = bulwark::detail::hazard_domain::instance();
    bulwark::bus<ping_topics> bus;
    CHECK(bus.publish(ping{}) == 0);
    bulwark::subscription warm = bus.subscribe<ping>([](const ping&) {});
    CHECK(bus.publish(ping{}) == 1); // this thread's record is taken
    if (!domain.alone(bulwark::detail::thread_hazard_owner().rec)) {
        WARN("skipped: a thread left by another test still holds a hazard record");
        return;
    }
    auto alive = std::make_shared<int>(0);
    auto pair = [&] {
        auto s = bus.subscribe<ping>([keep = alive](const ping&) {});
        s.unsubscribe();
    };
    pair();
    CHECK(alive.use_count() == 1); // alone: reclaimed without waiting for the batch

    // A second thread that published once and now waits (holding its record, reading nothing):
    // removed handlers wait for the batch's fence and scan, as they must when a reader may hold
    // a snapshot.
    std::mutex m;
    std::condition_variable cv;
    bool published = false;
    bool go = false;
    std::thread other([&] {
        CHECK(bus.publish(ping{}) == 1);
        std::unique_lock lock(m);
        published = true;
        cv.notify_all();
        cv.wait(lock, [&] { return go; });
    });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return published; });
    }
    CHECK(!domain.alone(bulwark::detail::thread_hazard_owner().rec));
    for (int i = 0; i < 10; ++i)
        pair();
    CHECK(alive.use_count() == 1 + 10); // held back: fewer than a batch replaced
    {
        std::lock_guard lock(m);
        go = true;
    }
    cv.notify_all();
    other.join(); // its record is let go with the thread
    pair();
    CHECK(alive.use_count() == 1); // alone again: everything retired is reclaimed
    CHECK(bus.publish(ping{}) == 1);
}
