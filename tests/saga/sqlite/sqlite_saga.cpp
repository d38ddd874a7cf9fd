// Sagas on the SQLite store: the crash-and-resume scenarios, records surviving a reopen, and a
// real process killed with SIGKILL while running sagas, resumed by the next process.
#include "eventsource/support.hpp" // temp_dir
#include "saga/scenarios.hpp"

#include <bulwark/saga/sqlite_store.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

using namespace saga_test;
using bulwark::saga_status;

TEST_CASE("sqlite saga store: a crash before or after any save resumes correctly",
          "[saga][sqlite][crash]") {
    es_test::temp_dir dir;
    auto make = [&](const std::string& name) {
        return std::make_unique<bulwark::sqlite_saga_store>(dir.file(name + ".db"));
    };
    crash_and_resume_everywhere(make, false);
    crash_and_resume_everywhere(make, true);
}

TEST_CASE("sqlite saga store: records round-trip and survive a reopen", "[saga][sqlite]") {
    es_test::temp_dir dir;
    bulwark::saga_record r{
        .id = "o-1",
        .name = "order",
        .status = saga_status::compensating,
        .completed_steps = 2,
        .failed_step = 3,
        .error = "ship refused",
        .data = {{"pay:id", "p|7"}, {"", "empty key"}, {"bin", std::string("a\0b", 3)}},
        .deadline_ns = 123456789,
        .revision = 1};
    {
        bulwark::sqlite_saga_store store{dir.file("sagas.db")};
        REQUIRE(store.save(r).has_value());
        CHECK(bulwark::is_concurrency_conflict(store.save(r).error()));
    }
    bulwark::sqlite_saga_store store{dir.file("sagas.db")};
    auto back = store.load("o-1").value();
    REQUIRE(back.has_value());
    CHECK(back->name == "order");
    CHECK(back->status == saga_status::compensating);
    CHECK(back->completed_steps == 2);
    CHECK(back->failed_step == 3);
    CHECK(back->error == "ship refused");
    CHECK(back->data == r.data);
    CHECK(back->deadline_ns == 123456789);
    CHECK(back->revision == 1);
    CHECK(store.list(saga_status::compensating).value().size() == 1);
    CHECK(store.list(saga_status::running).value().empty());
    CHECK_FALSE(store.load("nope").value().has_value());
}

namespace {

// A service in its own SQLite file that applies each idempotency key once (INSERT OR IGNORE).
struct durable_service {
    bulwark::detail::sqlite::database db;
    explicit durable_service(const std::string& path)
        : db(path, {}) {
        db.exec("CREATE TABLE IF NOT EXISTS effects(key TEXT PRIMARY KEY, calls INTEGER)");
    }
    void apply(const std::string& key) {
        db.exec("INSERT INTO effects VALUES('" + key +
                "', 1) ON CONFLICT(key) DO UPDATE SET "
                "calls = calls + 1");
    }
    std::map<std::string, int> effects() {
        std::map<std::string, int> out;
        auto& s = db.prepare("SELECT key, calls FROM effects");
        bulwark::detail::sqlite::use u(s);
        while (u->step())
            out[u->text(0)] = static_cast<int>(u->int64(1));
        return out;
    }
};

auto durable_saga(durable_service& svc) {
    auto act = [&svc](bulwark::saga_context& sc) {
        if (!sc.compensating() && sc.step_name() == "ship" && sc.saga_id().back() % 2 == 1)
            throw std::runtime_error("cannot ship");
        svc.apply(sc.idempotency_key());
    };
    return bulwark::saga{bulwark::saga_options{.name = "order"}, bulwark::step{"reserve", act, act},
                         bulwark::step{"charge", act, act}, bulwark::step{"ship", act, act},
                         bulwark::step{"confirm", act, act}};
}

} // namespace

TEST_CASE("sqlite saga store: a process killed while running sagas is resumed by the next one",
          "[saga][sqlite][crash]") {
    es_test::temp_dir dir;
    std::mt19937 rng(7);
    int started = 0;
    for (int run = 0; run < 30; ++run) {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            try {
                bulwark::sqlite_saga_store store{dir.file("sagas.db")};
                durable_service svc{dir.file("service.db")};
                auto s = durable_saga(svc);
                char one = 1;
                if (::write(ready[1], &one, 1) != 1)
                    ::_exit(4);
                (void)s.resume_all(store);
                for (int i = 0;; ++i)
                    (void)s.run(store, "o-" + std::to_string(run) + "-" + std::to_string(i));
            } catch (...) {
                ::_exit(3);
            }
        }
        ::close(ready[1]);
        char byte = 0;
        REQUIRE(::read(ready[0], &byte, 1) == 1); // opened: now kill it 0-100 ms into its work
        ::close(ready[0]);
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 100000));
        REQUIRE(::kill(pid, SIGKILL) == 0);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFSIGNALED(status));
        ++started;
    }
    // The last restart: resume whatever is left, then check every saga.
    bulwark::sqlite_saga_store store{dir.file("sagas.db")};
    durable_service svc{dir.file("service.db")};
    auto s = durable_saga(svc);
    for (auto& r : s.resume_all(store))
        REQUIRE(r.has_value());
    CHECK(store.list(saga_status::running).value().empty());
    CHECK(store.list(saga_status::compensating).value().empty());
    auto effects = svc.effects();
    auto done = store.list(saga_status::completed).value();
    auto undone = store.list(saga_status::compensated).value();
    CHECK(done.size() + undone.size() > 0);
    for (const auto& r : done)
        for (auto step : {"reserve", "charge", "ship", "confirm"})
            CHECK(effects.contains(r.id + ":" + step));
    for (const auto& r : undone) {
        CHECK(r.failed_step == 3);
        for (auto step : {"reserve", "charge"}) {
            CHECK(effects.contains(r.id + ":" + step));
            CHECK(effects.contains(r.id + ":" + step + ":compensate"));
        }
        CHECK_FALSE(effects.contains(r.id + ":confirm"));
    }
    int reruns = 0;
    for (const auto& [k, n] : effects)
        reruns += n - 1;
    WARN(started << " kills: " << done.size() << " sagas completed, " << undone.size()
                 << " compensated, " << reruns << " step re-runs absorbed by idempotency keys");
}
