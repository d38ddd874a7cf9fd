// Crash tests of the SQLite event store and outbox: a child process appends and relays until the
// test kills it with SIGKILL at a random moment; the test, as the restarted process, reopens the
// file, relays what is pending and checks that nothing acknowledged is lost, no append is partial,
// every committed event is published at least once and nothing uncommitted is published, and an
// idempotent consumer handles each event exactly once.
#include "eventsource/support.hpp"

#include <bulwark/channel/idempotent.hpp>
#include <bulwark/eventsource/sqlite_store.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace es_test;

namespace {

// Appends one line with one write(2): the kernel keeps it even if the process is killed next.
void append_line(const std::string& file, const std::string& line) {
    int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        ::_exit(4);
    std::string l = line + "\n";
    if (::write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
        ::_exit(5);
    ::close(fd);
}

std::vector<std::string> read_lines(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);)
        if (!l.empty())
            out.push_back(l);
    return out;
}

// The broker: a file of published message ids (outlives the publisher).
// In the child, the broker's acknowledgement takes up to 2 ms to come back (a network round
// trip), so kills also land between a publish and its mark.
struct file_transport : recording_transport {
    std::string file;
    int ack_delay_us = 0;
    explicit file_transport(std::string f, int delay_us = 0)
        : file(std::move(f))
        , ack_delay_us(delay_us) {}
    bulwark::outcome<void> publish(std::string_view, const bulwark::header_map& h,
                                   std::span<const std::byte>) {
        append_line(file, std::string(h.get(bulwark::header::message_id).value_or("?")));
        if (ack_delay_us > 0)
            std::this_thread::sleep_for(std::chrono::microseconds(ack_delay_us));
        return bulwark::outcome<void>::success();
    }
};

[[noreturn]] void writer_child(const std::string& db, const std::string& acks,
                               const std::string& broker, unsigned seed, int ready_fd) {
    try {
        std::mt19937 rng(seed);
        bulwark::sqlite_event_store store{db};
        char one = 1;
        if (::write(ready_fd, &one, 1) != 1)
            ::_exit(8);
        file_transport t{broker, static_cast<int>(rng() % 2000)};
        bulwark::outbox_relay relay{store, t, {.batch = 1 + rng() % 5}};
        for (unsigned n = 0;; ++n) {
            std::string stream = "order-" + std::to_string(rng() % 4);
            const auto count = static_cast<unsigned>(1 + rng() % 3);
            std::string tag = std::to_string(seed) + "-" + std::to_string(n);
            std::vector<bulwark::event_data> events;
            for (unsigned i = 0; i < count; ++i)
                events.push_back(ev("placed", tag + ":" + std::to_string(count)));
            auto v = store.version(stream);
            if (!v)
                ::_exit(6);
            auto r = store.append(stream, events, *v, "orders.events");
            if (r) {
                std::string line = "ack";
                for (const auto& e : events)
                    line += " " + e.id;
                append_line(acks, line);
            }
            if (rng() % 2)
                (void)relay.relay_once();
        }
    } catch (...) {
        ::_exit(7);
    }
}

} // namespace

TEST_CASE("sqlite outbox: SIGKILL at random points, 200 runs: nothing lost, nothing partial, "
          "each event consumed once",
          "[eventsource][sqlite][outbox][crash]") {
    temp_dir dir;
    const auto db = dir.file("events.db");
    const auto acks = dir.file("acks.log");
    const auto broker = dir.file("broker.log");
    std::mt19937 rng(20261130);
    int killed_mid_work = 0;
    for (int run = 0; run < 200; ++run) {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0)
            writer_child(db, acks, broker, static_cast<unsigned>(run) + 1, ready[1]);
        ::close(ready[1]);
        // The kill point: one run in ten anywhere from the start (while opening, creating the
        // schema, checkpointing); the others once the store is open, 0-60 ms into the work
        // (a commit with synchronous=FULL costs a few ms here).
        if (rng() % 10 != 0) {
            char byte = 0;
            REQUIRE(::read(ready[0], &byte, 1) == 1);
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 80000));
        }
        ::close(ready[0]);
        REQUIRE(::kill(pid, SIGKILL) == 0);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFSIGNALED(status)); // it was still working (an _exit code would be a failure)
        ++killed_mid_work;

        // The restarted process: reopen, relay what is pending, check.
        bulwark::sqlite_event_store store{db};
        file_transport t{broker};
        bulwark::outbox_relay relay{store, t, {.batch = 7}};
        REQUIRE(relay.relay_pending().has_value());
        REQUIRE(store.pending_outbox(1).value().empty());
    }
    CHECK(killed_mid_work == 200);

    bulwark::sqlite_event_store store{db};
    auto all = store.read_all(0, 1u << 30).value();
    REQUIRE(!all.empty());
    std::set<std::string> stored;
    std::map<std::string, std::uint64_t> last_version;
    std::map<std::string, std::pair<int, int>> appends; // tag -> (seen, expected count)
    for (const auto& e : all) {
        stored.insert(e.id);
        CHECK(e.version == ++last_version[e.stream]); // no gap, no duplicate
        auto colon = e.payload.find(':');
        auto& a = appends[e.payload.substr(0, colon)];
        ++a.first;
        a.second = std::stoi(e.payload.substr(colon + 1));
    }
    CHECK(stored.size() == all.size());
    int partial = 0;
    for (const auto& [tag, a] : appends)
        partial += a.first != a.second;
    CHECK(partial == 0); // every append is all there or not there

    // Durability: every acknowledged event is stored.
    std::size_t acked = 0, missing = 0;
    for (const auto& line : read_lines(acks)) {
        std::istringstream in(line.substr(4));
        for (std::string id; in >> id;) {
            ++acked;
            missing += !stored.contains(id);
        }
    }
    CHECK(missing == 0);
    CHECK(acked > 0);

    // At least once, and nothing that was not committed.
    auto published = read_lines(broker);
    std::set<std::string> published_ids(published.begin(), published.end());
    CHECK(published_ids == stored);

    // Consumed once after dedupe.
    bulwark::dedupe_window<std::string> window(1u << 20);
    std::map<std::string, int> handled;
    std::size_t dropped = 0;
    for (const auto& id : published) {
        if (window.first_seen(id))
            ++handled[id];
        else
            ++dropped;
    }
    std::size_t handled_once = 0;
    for (const auto& [id, n] : handled)
        handled_once += n == 1;
    CHECK(handled_once == stored.size());
    CHECK(handled.size() == stored.size());
    WARN("200 kills: " << stored.size() << " events committed (" << acked << " acknowledged), "
                       << published.size() << " publishes, " << dropped
                       << " duplicates dropped by the consumer");
}
