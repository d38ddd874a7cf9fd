// Seeded simulation of the async bus (issue 9 item 3): random schedules of publish (new
// messages and duplicates of earlier ones), late subscribe, ack / nack / throw / poison /
// unsettled handlers, handlers that publish to an earlier topic, drain and close — on real
// consumer threads, so the schedule is seeded and the interleavings are not (run under TSan).
//
// Invariants:
//  - every accepted message is settled exactly once: acked once or dead-lettered once, as its
//    fate and the delivery policy say (at-most-once: the one failure is dead-lettered;
//    at-least-once: nacked until max_deliveries, then dead-lettered);
//  - deliveries are numbered 1, 2, ... and a message is redelivered only after a failure;
//  - nothing reaches the handler twice past dedupe (a duplicate id is handled once);
//  - after drain() returns nothing accepted before it — nor what handlers published while it
//    ran — is left unsettled (async_bus drain is a barrier across topics, issue 8);
//  - after close(), publishes are refused with channel_closed, and the channel's own counters
//    agree with ours: accepted == acked + dead-lettered.
//
// Sizes: BULWARK_SIM_MESSAGES (default 20 000) in seeds of BULWARK_SIM_MESSAGES_PER_SEED (2 000);
// BULWARK_SIM_SEED=<s> reruns one seed's schedule.
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/idempotent.hpp>

#include "simulation/sim_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// The simulated buses route by type and never read `subject` (a wire transport does), so clang's
// -Wunused-const-variable would flag these members of types with internal linkage.
struct first_topic {
    [[maybe_unused]] static constexpr std::string_view subject = "sim.first";
    std::uint32_t n = 0; // index into the world's message table
};
struct second_topic {
    [[maybe_unused]] static constexpr std::string_view subject = "sim.second";
    std::uint32_t n = 0;
};
using sim_topics = bulwark::topics<first_topic, second_topic>;

enum class fate : std::uint8_t {
    ack,           // acks on the first delivery
    nack_then_ack, // nacks `k` deliveries, then acks
    throws,        // throws on every delivery
    poison,        // dead_letter() at once
    unsettled,     // returns without settling: auto_ack acks it
    publish_first, // (second topic) publishes a new message to the first topic, then acks
};

struct message_record {
    fate f = fate::ack;
    std::uint32_t k = 0;
    bool second = false;
    bool child = false; // published by a handler
    std::atomic<bool> accepted{false};
    std::atomic<std::uint32_t> deliveries{0};
    std::atomic<std::uint32_t> first_deliveries{0};
    std::atomic<std::uint32_t> acks{0};
    std::atomic<std::uint32_t> dead{0};
    std::atomic<std::uint32_t> bad_attempt{0};
};

struct bus_figures {
    std::uint64_t messages = 0, accepted = 0, duplicates = 0, refused = 0, acked = 0, dead = 0,
                  deliveries = 0, drains = 0, closes_early = 0, children = 0;
};

class bus_world {
public:
    bus_world(std::uint64_t seed, std::uint64_t messages)
        : rng_(seed)
        , records_(messages * 2 + 16) { // room for the children handlers publish
        max_deliveries_ = static_cast<std::uint32_t>(rng_.between(1, 4));
        at_least_once_ = rng_.chance(0.7);
        dedupe_ = rng_.chance(0.6);
        messages_ = messages;
    }

    void run() {
        using namespace std::chrono_literals;
        bulwark::async_bus<sim_topics> bus;
        std::shared_ptr<bulwark::dedupe_window<bulwark::message_id>> window;
        if (dedupe_)
            window =
                std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(records_.size() + 16);
        auto opts = [&](auto tag) {
            using M = decltype(tag);
            bulwark::async_bus_options<M> o;
            o.capacity = static_cast<std::size_t>(rng_.between(4, 64));
            o.consumers = static_cast<std::size_t>(rng_.between(1, 3));
            if (at_least_once_)
                o.delivery = bulwark::at_least_once{.max_deliveries = max_deliveries_};
            o.dead_letter = [this](bulwark::dead_letter<bulwark::async_message<M>>&& d) {
                auto& r = records_[d.message.message.n];
                r.dead.fetch_add(1);
                if (d.deliveries == 0)
                    r.bad_attempt.fetch_add(1);
            };
            return o;
        };
        auto handler = [this, &bus](auto& d) {
            const std::uint32_t n = d.message().message.n;
            auto& r = records_[n];
            const std::uint32_t attempt = d.attempt();
            const std::uint32_t seen = r.deliveries.fetch_add(1) + 1;
            if (attempt != seen) // deliveries are numbered in order, one at a time
                r.bad_attempt.fetch_add(1);
            if (attempt == 1)
                r.first_deliveries.fetch_add(1);
            switch (r.f) {
            case fate::ack:
                d.ack();
                break;
            case fate::nack_then_ack:
                if (attempt <= r.k)
                    d.nack("simulated nack");
                else
                    d.ack();
                break;
            case fate::throws:
                throw std::runtime_error("simulated handler failure");
            case fate::poison:
                d.dead_letter("simulated poison");
                break;
            case fate::unsettled:
                break;
            case fate::publish_first: {
                if (attempt == 1) {
                    const std::uint32_t c = next_child_.fetch_add(1);
                    if (c < records_.size()) {
                        auto& child = records_[c];
                        child.f = fate::ack;
                        child.child = true;
                        if (!bus.publish(first_topic{c}))
                            child.accepted.store(true);
                    }
                }
                d.ack();
                break;
            }
            }
            if (r.f != fate::unsettled && r.f != fate::throws && d.pending())
                r.bad_attempt.fetch_add(1);
        };
        auto count_ack = [this](std::uint32_t n) { records_[n].acks.fetch_add(1); };
        // The handler sees the delivery; acks are counted after it settled (unsettled = auto-ack).
        auto first = [handler, count_ack](bulwark::bus_delivery<first_topic>& d) mutable {
            handler(d);
            if (!d.pending() ? d.state() == bulwark::delivery_state::acked : true)
                count_ack(d.message().message.n);
        };
        auto second = [handler, count_ack](bulwark::bus_delivery<second_topic>& d) mutable {
            handler(d);
            if (!d.pending() ? d.state() == bulwark::delivery_state::acked : true)
                count_ack(d.message().message.n);
        };
        // The subscriptions live for the whole schedule: dropping one closes its consumer group.
        auto first_sub = bus.subscribe<first_topic>(first, opts(first_topic{}), window);
        bulwark::subscription second_sub;
        const bool second_late = rng_.chance(0.3);
        if (!second_late)
            second_sub = bus.subscribe<second_topic>(second, opts(second_topic{}), window);

        next_child_.store(static_cast<std::uint32_t>(messages_));
        const std::uint64_t close_at = rng_.chance(0.2) ? rng_.below(messages_) : messages_;
        std::vector<std::pair<std::uint32_t, bulwark::message_metadata>> published;
        bool closed = false;
        for (std::uint32_t n = 0; n < messages_; ++n) {
            if (n == close_at) {
                bus.close();
                closed = true;
                ++fig_.closes_early;
            }
            if (second_late && n == messages_ / 3) {
                second_sub = bus.subscribe<second_topic>(second, opts(second_topic{}), window);
                subscribed_after_close_ = closed;
            }
            auto& r = records_[n];
            r.second = rng_.chance(0.4);
            const auto roll = rng_.below(100);
            r.f = roll < 50   ? fate::ack
                  : roll < 65 ? fate::nack_then_ack
                  : roll < 72 ? fate::throws
                  : roll < 78 ? fate::poison
                  : roll < 88 ? fate::unsettled
                              : (r.second ? fate::publish_first : fate::ack);
            r.k = static_cast<std::uint32_t>(rng_.between(1, 4));
            ++fig_.messages;
            bulwark::message_metadata md;
            md.id = bulwark::message_id::generate();
            std::error_code ec =
                r.second ? bus.publish(second_topic{n}, md) : bus.publish(first_topic{n}, md);
            if (!ec && closed) {
                // Found by this simulation: subscribe() after close() opens a live channel.
                if (subscribed_after_close_ && r.second)
                    known("a topic subscribed after close() accepts publishes (message " +
                          std::to_string(n) + ")");
                else
                    violation("message " + std::to_string(n) + " was accepted after close()");
            }
            if (!ec) {
                r.accepted.store(true);
                if (dedupe_)
                    published.emplace_back(n, md);
            } else {
                ++fig_.refused;
                if (closed && ec != bulwark::errc::channel_closed)
                    violation("publish after close returned " + ec.message());
                if (!closed && ec != bulwark::errc::no_responders)
                    violation("publish refused with " + ec.message());
            }
            // A duplicate: the same message id again (a publisher retrying after a lost ack).
            if (dedupe_ && !published.empty() && rng_.chance(0.05)) {
                const auto& [m, mdup] = published[rng_.below(published.size())];
                const bool dup_second = records_[m].second;
                std::error_code dec = dup_second ? bus.publish(second_topic{m}, mdup)
                                                 : bus.publish(first_topic{m}, mdup);
                if (!dec)
                    ++fig_.duplicates;
            }
            if (!closed && rng_.chance(0.003)) {
                bus.drain();
                ++fig_.drains;
                check_settled("after drain()");
            }
        }
        if (!closed) {
            bus.drain();
            ++fig_.drains;
            check_settled("after the final drain()");
        }
        bus.close();
        check_settled("after close()");
        // The channels' counters agree with ours.
        std::uint64_t accepted = 0, acked = 0, dead = 0;
        if (auto* ch = bus.channel<first_topic>()) {
            accepted += ch->accepted();
            acked += ch->acked();
            dead += ch->dead_lettered();
            if (ch->accepted() != ch->acked() + ch->dead_lettered() + ch->dropped())
                violation("first topic: accepted != acked + dead-lettered + dropped");
        }
        if (auto* ch = bus.channel<second_topic>()) {
            accepted += ch->accepted();
            acked += ch->acked();
            dead += ch->dead_lettered();
            if (ch->accepted() != ch->acked() + ch->dead_lettered() + ch->dropped())
                violation("second topic: accepted != acked + dead-lettered + dropped");
        }
        std::uint64_t ours = 0;
        for (auto& r : records_)
            ours += r.accepted.load();
        if (accepted != ours + fig_.duplicates)
            violation("channels accepted " + std::to_string(accepted) + ", publishers saw " +
                      std::to_string(ours) + " + " + std::to_string(fig_.duplicates) +
                      " duplicates");
        fig_.accepted = ours;
        fig_.acked = acked;
        fig_.dead = dead;
        fig_.children = next_child_.load() - messages_;
    }

    const std::vector<std::string>& violations() const { return violations_; }
    const std::vector<std::string>& known() const { return known_; }
    const bus_figures& fig() const { return fig_; }

private:
    void check_settled(const char* when) {
        std::uint64_t unsettled_children = 0, unsettled_other = 0;
        for (std::size_t n = 0; n < records_.size(); ++n) {
            auto& r = records_[n];
            if (!r.accepted.load())
                continue;
            const auto acks = r.acks.load(), dead = r.dead.load();
            if (acks + dead == 0) {
                (r.child ? unsettled_children : unsettled_other) += 1;
                continue;
            }
            if (acks + dead != 1) {
                violation(std::string(when) + ": message " + std::to_string(n) + " acked " +
                          std::to_string(acks) + " and dead-lettered " + std::to_string(dead) +
                          " times");
                continue;
            }
            if (r.bad_attempt.load() != 0)
                violation("message " + std::to_string(n) + ": deliveries out of order");
            if (r.first_deliveries.load() != 1)
                violation("message " + std::to_string(n) +
                          " reached the handler as a first "
                          "delivery " +
                          std::to_string(r.first_deliveries.load()) + " times (dedupe " +
                          (dedupe_ ? "on" : "off") + ")");
            // The expected settlement.
            const std::uint32_t m = at_least_once_ ? max_deliveries_ : 1;
            bool want_ack = true;
            std::uint32_t want_deliveries = 1;
            switch (r.f) {
            case fate::nack_then_ack:
                want_ack = r.k < m;
                want_deliveries = want_ack ? r.k + 1 : m;
                break;
            case fate::throws:
                want_ack = false;
                want_deliveries = m;
                break;
            case fate::poison:
                want_ack = false;
                break;
            default:
                break;
            }
            if ((acks == 1) != want_ack || r.deliveries.load() != want_deliveries)
                violation("message " + std::to_string(n) + " (fate " +
                          std::to_string(static_cast<int>(r.f)) + ", k " + std::to_string(r.k) +
                          "): " + (acks ? "acked" : "dead-lettered") + " after " +
                          std::to_string(r.deliveries.load()) + " deliveries, expected " +
                          (want_ack ? "acked" : "dead-lettered") + " after " +
                          std::to_string(want_deliveries));
        }
        if (unsettled_other != 0)
            violation(std::string(when) + ": " + std::to_string(unsettled_other) +
                      " accepted messages never settled");
        if (unsettled_children != 0) {
            // Issue 8: async_bus::drain visits the topics once in order, so what a handler of a
            // later topic publishes to an earlier one can still be queued when it returns.
            const std::string what = std::string(when) + ": " + std::to_string(unsettled_children) +
                                     " messages published by handlers to an earlier topic were "
                                     "still unprocessed";
            if (std::string_view(when) == "after close()")
                violation(what); // close handles everything accepted: never acceptable
            else
                known(what);
        }
    }
    void known(std::string what) {
        if (known_.size() < 5)
            known_.push_back(std::move(what));
    }
    void violation(std::string what) {
        if (violations_.size() < 20)
            violations_.push_back(std::move(what));
    }

    sim::rng rng_;
    std::vector<message_record> records_;
    std::uint64_t messages_ = 0;
    std::uint32_t max_deliveries_ = 1;
    bool at_least_once_ = true, dedupe_ = false, subscribed_after_close_ = false;
    std::atomic<std::uint32_t> next_child_{0};
    std::vector<std::string> violations_, known_;
    bus_figures fig_;
};

} // namespace

TEST_CASE("simulation: async bus schedules settle every accepted message exactly once",
          "[simulation][bus][concurrency]") {
    const std::uint64_t total = sim::env_u64("BULWARK_SIM_MESSAGES", 20'000);
    const std::uint64_t per_seed = sim::env_u64("BULWARK_SIM_MESSAGES_PER_SEED", 2'000);
    const bool tolerate = sim::env_u64("BULWARK_SIM_TOLERATE_KNOWN", 0) != 0;
    std::vector<std::uint64_t> seeds;
    std::uint64_t one = 0;
    if (sim::single_seed(one))
        seeds.push_back(one);
    else
        for (std::uint64_t s = 1; s <= (total + per_seed - 1) / per_seed; ++s)
            seeds.push_back(s);
    bus_figures all;
    std::vector<std::uint64_t> known_seeds;
    const auto wall_start = std::chrono::steady_clock::now();
    for (std::uint64_t seed : seeds) {
        bus_world w(seed, per_seed);
        w.run();
        const std::string again = sim::reproduce("bulwark_tests_simulation", "[bus]", seed,
                                                 per_seed, "BULWARK_SIM_MESSAGES_PER_SEED");
        if (!w.violations().empty()) {
            std::string msg = "seed " + std::to_string(seed) + " broke an invariant:\n";
            for (const auto& v : w.violations())
                msg += "  " + v + "\n";
            FAIL(msg << "reproduce (the schedule is seeded, the interleaving is not: rerun a "
                        "few times): "
                     << again);
        }
        if (!w.known().empty()) {
            known_seeds.push_back(seed);
            WARN("seed " << seed << " hit a known async_bus defect: " << w.known().front()
                         << "\n  reproduce: " << again);
        }
        const auto& f = w.fig();
        all.messages += f.messages;
        all.accepted += f.accepted;
        all.duplicates += f.duplicates;
        all.refused += f.refused;
        all.acked += f.acked;
        all.dead += f.dead;
        all.drains += f.drains;
        all.closes_early += f.closes_early;
        all.children += f.children;
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
    WARN("simulation [bus]: "
         << seeds.size() << " seeds, " << all.messages << " messages (" << all.accepted
         << " accepted, " << all.duplicates << " duplicates, " << all.refused << " refused, "
         << all.children << " published by handlers), acked " << all.acked << ", dead-lettered "
         << all.dead << ", drains " << all.drains << ", early closes " << all.closes_early
         << "; violations 0; " << known_seeds.size() << " seeds hit a known defect; "
         << static_cast<std::uint64_t>(static_cast<double>(all.messages) / wall) << " messages/s");
    if (!tolerate)
        CHECK(known_seeds.empty()); // BULWARK_SIM_TOLERATE_KNOWN=1 until the drain fix lands
}
