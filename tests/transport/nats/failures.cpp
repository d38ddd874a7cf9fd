// Nothing acknowledged is lost: nats-server SIGKILLed and restarted mid-stream, and one node of
// a 3-node cluster killed under an R3 stream. Real servers on 127.0.0.1.
#include "support/nats_server.hpp"

#include <bulwark/transport/nats.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

template <class F>
bool eventually(F done, std::chrono::seconds bound = 30s) {
    auto until = steady::now() + bound;
    while (!done()) {
        if (steady::now() > until)
            return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Publishes `total` messages, each retried with the same message id until the stream acks it
/// (the at-least-once publisher: the server's duplicate window stores a retry once).
struct publisher {
    publisher(bulwark::jetstream& j, std::string s, int n)
        : js(j)
        , subject(std::move(s))
        , total(n) {}
    bulwark::jetstream& js;
    std::string subject;
    int total;
    std::atomic<int> attempts{0};
    std::atomic<int> acked_count{0};
    std::atomic<int> failures{0};
    std::atomic<bool> stop{false};
    std::mutex m;
    std::vector<std::string> acked; // message ids with a publish ack
    std::map<std::string, int> errors;
    steady::time_point last_ack{};
    std::thread thread;

    void start() {
        thread = std::thread([this] {
            for (int i = 0; i < total && !stop; ++i) {
                auto id = bulwark::message_id::generate().to_string();
                bulwark::header_map h;
                h.set(bulwark::header::message_id, id);
                for (;;) {
                    ++attempts;
                    auto r = js.publish(subject, h, bytes_of(std::to_string(i)));
                    if (r) {
                        std::lock_guard l(m);
                        acked.push_back(id);
                        last_ack = steady::now();
                        ++acked_count;
                        break;
                    }
                    {
                        std::lock_guard l(m);
                        errors[r.error().error_code().message()]++;
                    }
                    ++failures;
                    if (stop)
                        return;
                    std::this_thread::sleep_for(50ms); // no-responders comes back at once
                }
            }
        });
    }
    void join() {
        if (thread.joinable())
            thread.join();
    }
    ~publisher() {
        stop = true;
        join();
    }
    std::string error_text() {
        std::lock_guard l(m);
        std::string s;
        for (auto& [k, v] : errors)
            s += " [" + k + " x" + std::to_string(v) + "]";
        return s.empty() ? " none" : s;
    }
};

/// Counts what the consumer's handler saw, per message id.
struct tally {
    std::mutex m;
    std::map<std::string, int> handled;
    bulwark::message_handler handler() {
        return [this](const bulwark::message_view& v) {
            std::lock_guard l(m);
            handled[std::string(v.headers->get(bulwark::header::message_id).value_or("?"))]++;
            return bulwark::settle::ack();
        };
    }
    bool has_all(const std::vector<std::string>& ids) {
        std::lock_guard l(m);
        for (auto& id : ids)
            if (!handled.count(id))
                return false;
        return true;
    }
    int handled_twice() {
        std::lock_guard l(m);
        int n = 0;
        for (auto& [k, v] : handled)
            n += v > 1;
        return n;
    }
    std::size_t distinct() {
        std::lock_guard l(m);
        return handled.size();
    }
};

} // namespace

TEST_CASE("jetstream: nats-server SIGKILLed and restarted mid-stream loses no acked message",
          "[nats][jetstream][failover][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_server server(bin);
    std::atomic<int> reconnects{0};
    bulwark::nats_options o;
    o.servers = {server.url()};
    o.reconnect_wait = 100ms;
    o.reconnect_jitter = 0ms;
    o.max_reconnects = -1;
    o.listener = [&](const bulwark::nats_event& e) {
        if (e.kind == bulwark::nats_event_kind::reconnected)
            ++reconnects;
    };
    bulwark::nats_transport t(o);
    bulwark::jetstream js(t, {.api_timeout = 1s});
    REQUIRE(js.declare_stream({.name = "CRASH", .subjects = {"crash.>"}}).has_value());

    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(100000);
    tally seen;
    // AckWait 1 s: acks lost in the crash come back quickly as redeliveries (duplicates)
    bulwark::jetstream_consumer consumer(
        js, {.stream = "CRASH", .durable = "c", .ack_wait = 1s, .max_deliveries = 100},
        seen.handler(), {.dedupe = window});

    publisher pub(js, "crash.x", 1500);
    pub.start();
    REQUIRE(eventually([&] { return pub.acked_count >= 400; }));
    auto killed_at = steady::now();
    server.kill9();
    int acked_at_kill = pub.acked_count;
    std::this_thread::sleep_for(300ms);
    server.start(); // same port, same store
    REQUIRE(eventually([&] { return pub.acked_count > acked_at_kill; }));
    double recover_ms;
    {
        std::lock_guard l(pub.m);
        recover_ms = std::chrono::duration<double, std::milli>(pub.last_ack - killed_at).count();
    }
    pub.join();
    REQUIRE(pub.acked_count == 1500);
    std::vector<std::string> acked;
    {
        std::lock_guard l(pub.m);
        acked = pub.acked;
    }
    REQUIRE(eventually([&] { return seen.has_all(acked); }));
    std::this_thread::sleep_for(1500ms); // let redeliveries of lost acks arrive and be dropped
    auto st = consumer.stats();
    std::printf("kill -9 mid-stream: sent %d attempts, acked %d, consumed %zu distinct, "
                "duplicates dropped %llu, handled twice %d, publish errors:%s, "
                "time to recover %.0f ms (kill -> first ack after restart, 300 ms down)\n",
                pub.attempts.load(), pub.acked_count.load(), seen.distinct(),
                static_cast<unsigned long long>(st.duplicates), seen.handled_twice(),
                pub.error_text().c_str(), recover_ms);
    CHECK(seen.has_all(acked));             // every acked message was consumed
    CHECK(seen.handled_twice() == 0);       // the idempotent consumer dropped every duplicate
    CHECK(seen.distinct() >= acked.size()); // (a timed-out publish may be stored unacked too)
    CHECK(reconnects >= 1);
}

TEST_CASE("jetstream cluster: one node killed, clients fail over, the R3 stream keeps every "
          "acked message",
          "[nats][jetstream][cluster][failover][nats-server]") {
    BULWARK_NEED_NATS(bin);
    bulwark::testing::nats_cluster cluster(bin);
    std::mutex em;
    std::vector<std::string> events;
    bulwark::nats_options o;
    o.servers = cluster.urls();
    o.randomize_servers = false;
    o.reconnect_wait = 100ms;
    o.reconnect_jitter = 0ms;
    o.max_reconnects = -1;
    o.listener = [&](const bulwark::nats_event& e) {
        std::lock_guard l(em);
        events.push_back(std::to_string(static_cast<int>(e.kind)) + " " + std::string(e.url));
    };
    bulwark::nats_transport t(o);
    bulwark::jetstream js(t, {.api_timeout = 2s});
    // R3 creation may wait for the stream's raft group: retry (bounded)
    bulwark::outcome<void> made = bulwark::errc::timeout;
    for (int i = 0; i < 100 && !made; ++i) {
        made = js.declare_stream({.name = "CL", .subjects = {"cl.>"}, .replicas = 3});
        if (!made)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE(made.has_value());

    auto window = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(100000);
    tally seen;
    bulwark::outcome<void> cdecl = bulwark::errc::timeout;
    for (int i = 0; i < 100 && !cdecl; ++i) {
        cdecl = js.declare_consumer(
            {.stream = "CL", .durable = "c", .ack_wait = 2s, .max_deliveries = 100});
        if (!cdecl)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE(cdecl.has_value());
    bulwark::jetstream_consumer consumer(
        js, {.stream = "CL", .durable = "c", .ack_wait = 2s, .max_deliveries = 100}, seen.handler(),
        {.dedupe = window});

    publisher pub(js, "cl.x", 600);
    pub.start();
    REQUIRE(eventually([&] { return pub.acked_count >= 150; }));
    std::string before = t.connected_url();
    int victim = cluster.index_of(before);
    REQUIRE(victim >= 0);
    auto killed_at = steady::now();
    cluster.node(victim).stop(SIGKILL);
    int acked_at_kill = pub.acked_count;
    REQUIRE(eventually([&] { return pub.acked_count > acked_at_kill; }, 60s));
    double recover_ms;
    {
        std::lock_guard l(pub.m);
        recover_ms = std::chrono::duration<double, std::milli>(pub.last_ack - killed_at).count();
    }
    pub.join();
    REQUIRE(pub.acked_count == 600);
    std::string after = t.connected_url();
    std::vector<std::string> acked;
    {
        std::lock_guard l(pub.m);
        acked = pub.acked;
    }
    REQUIRE(eventually([&] { return seen.has_all(acked); }, 60s));
    auto st = consumer.stats();
    std::printf("cluster node n%d killed: connected %s -> %s; sent %d attempts, acked %d, "
                "consumed %zu distinct, duplicates dropped %llu, publish errors:%s, "
                "time to recover %.0f ms\n",
                victim, before.c_str(), after.c_str(), pub.attempts.load(), pub.acked_count.load(),
                seen.distinct(), static_cast<unsigned long long>(st.duplicates),
                pub.error_text().c_str(), recover_ms);
    CHECK(after != before); // failed over to another node
    CHECK(seen.has_all(acked));
    CHECK(seen.handled_twice() == 0);
    std::lock_guard l(em);
    bool reconnected = false;
    for (auto& e : events)
        reconnected = reconnected || e.rfind("2 ", 0) == 0;
    CHECK(reconnected);
}
