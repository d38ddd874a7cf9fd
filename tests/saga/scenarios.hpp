#pragma once
// Saga scenarios shared by the store-specific test binaries (memory, SQLite, JetStream KV): the
// order saga users expect (reserve stock, charge the card, book shipping, confirm), services
// that de-duplicate by idempotency key, and a store wrapper that simulates a crash.

#include <bulwark/saga/saga.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace saga_test {

// A downstream service that applies each idempotency key once (as the guide asks users to make
// theirs), and counts raw calls and effects.
struct service {
    std::mutex mutex;
    std::vector<std::string> calls;       // every call, in order ("reserve", "undo:reserve")
    std::map<std::string, int> effects;   // idempotency key -> calls with it
    std::set<std::string> fail_steps;     // actions that fail
    std::map<std::string, int> undo_fail; // compensations that fail this many more times
    void act(bulwark::saga_context& sc) {
        std::lock_guard lock(mutex);
        std::string name(sc.step_name());
        calls.push_back(sc.compensating() ? "undo:" + name : name);
        if (!sc.compensating() && fail_steps.contains(name))
            throw std::runtime_error(name + " refused");
        if (sc.compensating()) {
            auto it = undo_fail.find(name);
            if (it != undo_fail.end() && it->second != 0) {
                if (it->second > 0)
                    --it->second;
                throw std::runtime_error("undo " + name + " failed");
            }
        }
        ++effects[sc.idempotency_key()]; // a repeated key changes nothing ...
        if (!sc.compensating()) // ... and answers as the first call did (a payment id, say)
            sc.data()[name] = "done:" + sc.idempotency_key();
    }
    std::vector<std::string> actions() {
        std::lock_guard lock(mutex);
        return calls;
    }
    // Effects applied under `key`: a service that de-duplicates applies a key at most once.
    int applied(const std::string& key) {
        std::lock_guard lock(mutex);
        return effects[key] > 0 ? 1 : 0;
    }
    int calls_with(const std::string& key) {
        std::lock_guard lock(mutex);
        return effects[key];
    }
};

inline auto order_saga(service& svc, bulwark::saga_options opts = {.name = "order"}) {
    auto act = [&svc](bulwark::saga_context& sc) { svc.act(sc); };
    return bulwark::saga{std::move(opts), bulwark::step{"reserve", act, act},
                         bulwark::step{"charge", act, act}, bulwark::step{"ship", act, act},
                         bulwark::step{"confirm", act, act}};
}

struct simulated_crash {};

// Forwards to a store, and "crashes" (throws out of the saga, as if the process died) at the
// n-th save: before it is stored (the step ran, its record did not) or after.
template <class Store>
struct crashing_store {
    Store& inner;
    int crash_at = -1;
    bool after = false;
    int saves = 0;
    bulwark::outcome<void> save(const bulwark::saga_record& r) {
        if (++saves == crash_at && !after)
            throw simulated_crash{};
        auto s = inner.save(r);
        if (saves == crash_at)
            throw simulated_crash{};
        return s;
    }
    bulwark::outcome<std::optional<bulwark::saga_record>> load(std::string_view id) {
        return inner.load(id);
    }
    bulwark::outcome<std::vector<bulwark::saga_record>> list(bulwark::saga_status s) {
        return inner.list(s);
    }
};

// A crash at every save of a run (before and after the save), then a fresh saga object (the
// restarted process) resumes from the store: the saga ends as it would have without a crash,
// every action and compensation took effect exactly once (idempotency keys), and the record is
// the final one.
template <class MakeStore>
void crash_and_resume_everywhere(MakeStore&& make_store, bool with_failure) {
    // A run without a crash: how many saves it makes.
    int total_saves = 0;
    {
        auto store = make_store(std::string("baseline") + (with_failure ? "-f" : ""));
        service svc;
        if (with_failure)
            svc.fail_steps.insert("ship");
        crashing_store<std::remove_reference_t<decltype(*store)>> c{*store};
        auto s = order_saga(svc);
        REQUIRE(s.run(c, "o-base").has_value());
        total_saves = c.saves;
    }
    REQUIRE(total_saves >= 4);
    for (int at = 1; at <= total_saves; ++at)
        for (bool after : {false, true}) {
            CAPTURE(at, after, with_failure);
            auto store = make_store("crash-" + std::to_string(at) + (after ? "a" : "b") +
                                    (with_failure ? "-f" : ""));
            service svc;
            if (with_failure)
                svc.fail_steps.insert("ship");
            {
                crashing_store<std::remove_reference_t<decltype(*store)>> c{*store, at, after};
                auto before_crash = order_saga(svc);
                CHECK_THROWS_AS(before_crash.run(c, "o-1", {{"sku", "A1"}}), simulated_crash);
            }
            // The restarted process.
            auto restarted = order_saga(svc);
            auto results = restarted.resume_all(*store);
            auto rec = store->load("o-1").value();
            if (at == 1 && !after) {
                CHECK(results.empty()); // the saga was never recorded: nothing to resume
                CHECK_FALSE(rec.has_value());
                continue;
            }
            REQUIRE(rec.has_value());
            if (results.empty()) { // it had finished before the crash point
                CHECK_FALSE(bulwark::is_unfinished(rec->status));
            } else {
                REQUIRE(results.size() == 1);
                REQUIRE(results[0].has_value());
            }
            CHECK(rec->data.at("sku") == "A1");
            if (!with_failure) {
                CHECK(rec->status == bulwark::saga_status::completed);
                for (auto step : {"reserve", "charge", "ship", "confirm"}) {
                    CHECK(svc.applied(std::string("o-1:") + step) == 1);
                    CHECK(svc.calls_with(std::string("o-1:") + step) <= 2); // one re-run at most
                    CHECK(rec->data.contains(step));
                }
            } else {
                CHECK(rec->status == bulwark::saga_status::compensated);
                CHECK(rec->failed_step == 3);
                for (auto step : {"reserve", "charge"}) {
                    CHECK(svc.applied(std::string("o-1:") + step) == 1);
                    CHECK(svc.applied(std::string("o-1:") + step + ":compensate") == 1);
                }
                CHECK(svc.applied("o-1:ship") == 0);
                CHECK(svc.applied("o-1:confirm") == 0);
            }
            CHECK(store->list(bulwark::saga_status::running).value().empty());
            CHECK(store->list(bulwark::saga_status::compensating).value().empty());
        }
}

} // namespace saga_test
