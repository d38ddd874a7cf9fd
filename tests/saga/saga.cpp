// Sagas on the in-memory store: ordering of actions and compensations, retries and parking,
// crash and resume, timeouts on a manual clock, idempotent start, steps over a command bus.
#include "saga/scenarios.hpp"

#include <bulwark/channel/cqrs.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/saga/saga.hpp>

#include <memory>

using namespace saga_test;
using namespace std::chrono_literals;
using bulwark::saga_status;

TEST_CASE("saga: all steps succeed, in order, each recorded", "[saga]") {
    service svc;
    bulwark::memory_saga_store store;
    std::vector<std::string> events;
    auto s = order_saga(svc, {.name = "order", .listener = [&](const bulwark::saga_event& e) {
                                  events.push_back(std::to_string(static_cast<int>(e.kind)) + ":" +
                                                   std::string(e.step_name));
                              }});
    auto r = s.run(store, "o-1", {{"sku", "A1"}});
    REQUIRE(r.has_value());
    CHECK(r->status == saga_status::completed);
    CHECK(r->failed_step == 0);
    CHECK(svc.actions() == std::vector<std::string>{"reserve", "charge", "ship", "confirm"});
    CHECK(r->data.at("sku") == "A1");
    CHECK(r->data.at("charge") == "done:o-1:charge");
    auto rec = store.load("o-1").value();
    REQUIRE(rec.has_value());
    CHECK(rec->status == saga_status::completed);
    CHECK(rec->completed_steps == 4);
    CHECK(rec->revision == 5); // started + one save per step
    using K = bulwark::saga_event_kind;
    auto ev = [](K k, std::string n = "") { return std::to_string(static_cast<int>(k)) + ":" + n; };
    CHECK(events == std::vector<std::string>{ev(K::started), ev(K::step_completed, "reserve"),
                                             ev(K::step_completed, "charge"),
                                             ev(K::step_completed, "ship"),
                                             ev(K::step_completed, "confirm"), ev(K::completed)});
}

TEST_CASE("saga: a failure at every position compensates exactly the completed steps in reverse",
          "[saga]") {
    const std::vector<std::string> names{"reserve", "charge", "ship", "confirm"};
    for (std::size_t fail = 0; fail < names.size(); ++fail) {
        CAPTURE(fail);
        service svc;
        svc.fail_steps.insert(names[fail]);
        bulwark::memory_saga_store store;
        std::vector<std::string> compensated;
        bool saw_compensated_event = false;
        auto s = order_saga(svc, {.name = "order", .listener = [&](const bulwark::saga_event& e) {
                                      if (e.kind == bulwark::saga_event_kind::step_compensated)
                                          compensated.emplace_back(e.step_name);
                                      if (e.kind == bulwark::saga_event_kind::compensated) {
                                          // "compensated" only after the last compensation
                                          CHECK(compensated.size() == fail);
                                          saw_compensated_event = true;
                                      }
                                  }});
        auto r = s.run(store, "o-1");
        REQUIRE(r.has_value());
        CHECK(r->status == saga_status::compensated);
        CHECK(r->failed_step == fail + 1);
        CHECK(r->error == names[fail] + " refused");
        REQUIRE(r->cause.has_value());
        CHECK(r->cause->holds<std::runtime_error>());
        CHECK(saw_compensated_event);
        std::vector<std::string> expected;
        for (std::size_t i = 0; i <= fail; ++i)
            expected.push_back(names[i]);
        for (std::size_t i = fail; i-- > 0;)
            expected.push_back("undo:" + names[i]);
        CHECK(svc.actions() == expected); // the failed step itself is not compensated
        std::vector<std::string> reversed(expected.rbegin(),
                                          expected.rbegin() + static_cast<std::ptrdiff_t>(fail));
        CHECK(compensated.size() == fail);
        auto rec = store.load("o-1").value();
        CHECK(rec->status == saga_status::compensated);
        CHECK(rec->completed_steps == 0);
        CHECK(rec->failed_step == fail + 1);
    }
}

TEST_CASE("saga: a compensation that fails twice then succeeds is retried by its own policy",
          "[saga]") {
    service svc;
    svc.fail_steps.insert("ship");
    svc.undo_fail["charge"] = 2;
    std::vector<std::uint32_t> retries;
    auto act = [&svc](bulwark::saga_context& sc) { svc.act(sc); };
    auto undo_policy = bulwark::pipeline{bulwark::retry{.max_attempts = 3}};
    bulwark::saga s{bulwark::saga_options{.name = "order"}, bulwark::step{"reserve", act, act},
                    bulwark::step{"charge", act, act, bulwark::pipeline<>{}, undo_policy},
                    bulwark::step{"ship", act, act}};
    bulwark::memory_saga_store store;
    auto r = s.run(store, "o-2");
    REQUIRE(r.has_value());
    CHECK(r->status == saga_status::compensated);
    CHECK(svc.actions() == std::vector<std::string>{"reserve", "charge", "ship", "undo:charge",
                                                    "undo:charge", "undo:charge", "undo:reserve"});
    CHECK(svc.calls_with("o-2:charge:compensate") == 1); // two failed attempts changed nothing
}

TEST_CASE("saga: a compensation that always fails parks the saga, reported, never dropped",
          "[saga]") {
    service svc;
    svc.fail_steps.insert("confirm");
    svc.undo_fail["charge"] = -1; // forever
    bulwark::memory_saga_store store;
    std::vector<bulwark::saga_event_kind> kinds;
    std::string parked_step;
    auto act = [&svc](bulwark::saga_context& sc) { svc.act(sc); };
    bulwark::saga s{bulwark::saga_options{.name = "order",
                                          .listener =
                                              [&](const bulwark::saga_event& e) {
                                                  kinds.push_back(e.kind);
                                                  if (e.kind == bulwark::saga_event_kind::parked) {
                                                      parked_step = e.step_name;
                                                      CHECK(e.error != nullptr);
                                                  }
                                              }},
                    bulwark::step{"reserve", act, act},
                    bulwark::step{"charge", act, act, bulwark::pipeline<>{},
                                  bulwark::pipeline{bulwark::retry{.max_attempts = 4}}},
                    bulwark::step{"ship", act, act}, bulwark::step{"confirm", act, act}};
    auto r = s.run(store, "o-3");
    REQUIRE(r.has_value());
    CHECK(r->status == saga_status::parked);
    CHECK(parked_step == "charge");
    CHECK(r->error.find("compensation of step 2 'charge' failed: undo charge failed") == 0);
    CHECK(r->error.find("confirm refused") != std::string::npos);
    // Compensation halted: ship undone, charge tried 4 times, reserve left for the operator.
    CHECK(svc.actions() == std::vector<std::string>{"reserve", "charge", "ship", "confirm",
                                                    "undo:ship", "undo:charge", "undo:charge",
                                                    "undo:charge", "undo:charge"});
    CHECK(std::count(kinds.begin(), kinds.end(), bulwark::saga_event_kind::compensation_failed) ==
          1);
    CHECK(kinds.back() == bulwark::saga_event_kind::parked);
    auto parked = s.parked(store).value();
    REQUIRE(parked.size() == 1);
    CHECK(parked[0].id == "o-3");
    CHECK(parked[0].completed_steps == 2); // charge and reserve still to undo
    // Resuming a parked saga does nothing; resume_all leaves it too.
    CHECK(s.resume(store, "o-3")->status == saga_status::parked);
    CHECK(s.resume_all(store).empty());
    // The operator fixes the cause and retries.
    svc.undo_fail["charge"] = 0;
    auto fixed = s.retry_parked(store, "o-3");
    REQUIRE(fixed.has_value());
    CHECK(fixed->status == saga_status::compensated);
    CHECK(svc.actions().back() == "undo:reserve");
    CHECK(s.parked(store).value().empty());
    CHECK_FALSE(s.retry_parked(store, "o-3").has_value()); // no longer parked
}

TEST_CASE("saga: a crash before or after any save resumes correctly (memory store)",
          "[saga][crash]") {
    auto make = [](const std::string&) { return std::make_unique<bulwark::memory_saga_store>(); };
    crash_and_resume_everywhere(make, false);
    crash_and_resume_everywhere(make, true);
}

namespace {
/// A replicated store read between two saves: `list(compensating)` also returns what
/// `list(running)` returned last, relabelled and one revision older, as a lagging replica might.
struct lagging_store {
    bulwark::memory_saga_store real;
    std::vector<bulwark::saga_record> stale;
    bulwark::outcome<void> save(const bulwark::saga_record& r) { return real.save(r); }
    bulwark::outcome<std::optional<bulwark::saga_record>> load(std::string_view id) {
        return real.load(id);
    }
    bulwark::outcome<std::vector<bulwark::saga_record>> list(saga_status st) {
        auto listed = real.list(st);
        if (!listed)
            return listed;
        auto out = listed.value();
        if (st == saga_status::running) {
            stale = out;
            for (auto& r : stale) {
                r.status = saga_status::compensating;
                r.revision -= 1;
            }
        } else if (st == saga_status::compensating)
            out.insert(out.end(), stale.begin(), stale.end());
        return out;
    }
};
} // namespace

TEST_CASE("saga: resume_all resumes a saga listed twice once, from its newest record",
          "[saga][crash]") {
    service svc;
    lagging_store store;
    auto s = order_saga(svc, {.name = "order"});
    // A process crashed after the first step: started (revision 1), reserve done (revision 2).
    bulwark::saga_record rec{.id = "o-9", .name = "order", .data = {{"sku", "A1"}}};
    rec.revision = 1;
    REQUIRE(store.save(rec).has_value());
    rec.completed_steps = 1;
    rec.revision = 2;
    REQUIRE(store.save(rec).has_value());
    REQUIRE(store.list(saga_status::running).value().size() == 1);
    REQUIRE(store.list(saga_status::compensating).value().size() == 1); // the stale copy

    auto results = s.resume_all(store);
    REQUIRE(results.size() == 1);
    REQUIRE(results[0].has_value());
    CHECK(results[0]->status == saga_status::completed);
    CHECK(svc.actions() == std::vector<std::string>{"charge", "ship", "confirm"});
}

TEST_CASE("saga: per-step timeout on a manual clock", "[saga][timeout]") {
    bulwark::manual_clock clock;
    service svc;
    bulwark::memory_saga_store store;
    bool saw_deadline = false;
    auto act = [&svc](bulwark::saga_context& sc) { svc.act(sc); };
    auto slow = [&](bulwark::saga_context& sc) -> bulwark::outcome<void> {
        saw_deadline = sc.call().deadline() == clock.now() + 2s;
        clock.advance(3s); // the remote call takes 3 s ...
        if (sc.call().expired(clock.now()))
            return bulwark::errc::cancelled; // ... and gives up on the deadline
        return bulwark::outcome<void>::success();
    };
    bulwark::saga s{
        bulwark::saga_options{.name = "order", .clock = clock}, bulwark::step{"reserve", act, act},
        bulwark::step{"charge", slow, act}.with_timeout(2s), bulwark::step{"ship", act, act}};
    auto r = s.run(store, "o-t");
    REQUIRE(r.has_value());
    CHECK(saw_deadline);
    CHECK(r->status == saga_status::compensated);
    CHECK(r->failed_step == 2);
    CHECK(r->cause->code == bulwark::errc::timeout);
    CHECK(r->error == "timed out");
    CHECK(svc.actions() == std::vector<std::string>{"reserve", "undo:reserve"});
    CHECK_THROWS_WITH(bulwark::step("x", act).with_timeout(0s),
                      Catch::Contains("bulwark::step: timeout must be > 0 (got 0ns)"));
}

TEST_CASE("saga: per-saga timeout stops before the next step and compensates", "[saga][timeout]") {
    bulwark::manual_clock clock;
    service svc;
    bulwark::memory_saga_store store;
    auto act = [&svc](bulwark::saga_context& sc) { svc.act(sc); };
    auto slow = [&](bulwark::saga_context& sc) {
        svc.act(sc);
        clock.advance(11s); // succeeds, but past the saga's deadline
    };
    bulwark::saga s{bulwark::saga_options{.name = "order", .timeout = 10s, .clock = clock},
                    bulwark::step{"reserve", act, act}, bulwark::step{"charge", slow, act},
                    bulwark::step{"ship", act, act}};
    auto r = s.run(store, "o-st");
    REQUIRE(r.has_value());
    CHECK(r->status == saga_status::compensated);
    CHECK(r->failed_step == 3); // ship never started
    CHECK(r->cause->code == bulwark::errc::timeout);
    CHECK(svc.actions() ==
          std::vector<std::string>{"reserve", "charge", "undo:charge", "undo:reserve"});

    // The stuck query: a saga whose process died, past its deadline, is listed.
    crashing_store<bulwark::memory_saga_store> crashing{store, 2, true};
    bulwark::manual_clock clock2;
    auto s2 = order_saga(svc, {.name = "order", .timeout = 5s, .clock = clock2});
    CHECK_THROWS_AS(s2.run(crashing, "o-stuck"), simulated_crash);
    CHECK(s2.overdue(store).value().empty());
    clock2.advance(6s);
    auto stuck = s2.overdue(store).value();
    REQUIRE(stuck.size() == 1);
    CHECK(stuck[0].id == "o-stuck");
    // Resumed past its deadline: no new step starts; what was done is undone.
    auto resumed = s2.resume(store, "o-stuck");
    REQUIRE(resumed.has_value());
    CHECK(resumed->status == saga_status::compensated);
    CHECK(resumed->failed_step == 2);
}

TEST_CASE("saga: starting an id twice resumes instead of running again", "[saga]") {
    service svc;
    bulwark::memory_saga_store store;
    auto s = order_saga(svc);
    REQUIRE(s.run(store, "o-5")->status == saga_status::completed);
    auto again = s.run(store, "o-5");
    REQUIRE(again.has_value());
    CHECK(again->status == saga_status::completed);
    CHECK(svc.actions().size() == 4); // nothing ran twice
    // Another saga definition must not take it over.
    auto other = order_saga(svc, {.name = "refund"});
    auto wrong = other.run(store, "o-5");
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code == bulwark::errc::invalid_argument);
}

TEST_CASE("saga: a stale writer gets a concurrency_conflict from the store", "[saga]") {
    bulwark::memory_saga_store store;
    bulwark::saga_record r{.id = "x", .name = "order", .revision = 1};
    REQUIRE(store.save(r).has_value());
    auto stale = store.save(r); // revision 1 again
    REQUIRE_FALSE(stale.has_value());
    CHECK(bulwark::is_concurrency_conflict(stale.error()));
    r.revision = 2;
    CHECK(store.save(r).has_value());
}

TEST_CASE("saga: settings are validated", "[saga]") {
    auto act = [] {};
    CHECK_THROWS_WITH((bulwark::saga{bulwark::step{"a", act}, bulwark::step{"a", act}}),
                      Catch::Contains("bulwark::saga: step names must be unique within the saga"));
    CHECK_THROWS_WITH((bulwark::saga{bulwark::saga_options{.name = ""}, bulwark::step{"a", act}}),
                      Catch::Contains("bulwark::saga: name must be not empty"));
    CHECK_THROWS_WITH(bulwark::step("", act),
                      Catch::Contains("bulwark::step: name must be not empty"));
    bulwark::memory_saga_store store;
    bulwark::saga s{bulwark::step{"a", act}};
    CHECK_THROWS_WITH(s.run(store, ""), Catch::Contains("bulwark::saga: id must be not empty"));
    CHECK_FALSE(s.resume(store, "nope").has_value());
}

namespace {
struct reserve_stock {
    static constexpr std::string_view subject = "stock.reserve";
    std::string key;
    int qty;
};
struct release_stock {
    static constexpr std::string_view subject = "stock.release";
    std::string key;
};
} // namespace

TEST_CASE("saga: steps that are commands over the bus", "[saga][bus]") {
    using topics = bulwark::topics<reserve_stock, release_stock>;
    bulwark::command_bus<topics> commands;
    std::map<std::string, int> reserved;
    auto h1 = commands.handle<reserve_stock>([&](const reserve_stock& c) {
        if (c.qty > 5)
            throw std::runtime_error("not enough stock");
        reserved[c.key] = c.qty;
    });
    auto h2 =
        commands.handle<release_stock>([&](const release_stock& c) { reserved.erase(c.key); });
    auto pay = [](bulwark::saga_context& sc) -> bulwark::outcome<void> {
        if (sc.data().at("card") == "declined")
            return bulwark::errc::rejected;
        return bulwark::outcome<void>::success();
    };
    bulwark::saga s{bulwark::step{"reserve",
                                  [&](bulwark::saga_context& sc) {
                                      return commands.send(reserve_stock{sc.idempotency_key(), 2});
                                  },
                                  [&](bulwark::saga_context& sc) {
                                      return commands.send(
                                          release_stock{sc.saga_id() + ":reserve"});
                                  }},
                    bulwark::step{"pay", pay}};
    bulwark::memory_saga_store store;
    REQUIRE(s.run(store, "o-b1", {{"card", "ok"}})->status == saga_status::completed);
    CHECK(reserved.contains("o-b1:reserve"));
    auto declined = s.run(store, "o-b2", {{"card", "declined"}});
    CHECK(declined->status == saga_status::compensated);
    CHECK(declined->cause->code == bulwark::errc::rejected);
    CHECK_FALSE(reserved.contains("o-b2:reserve"));
}
