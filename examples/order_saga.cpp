// An order saga on bulwark::saga: order -> payment -> inventory -> shipping, each step with its
// compensation, progress saved in a SQLite saga store after every step.
//
//   example_order_saga              1. orders on an async bus (2 consumers, per-order ordering,
//                                      a duplicated order dropped), each run as a saga; payment is
//                                      declined for one order, the last desk is gone for another
//                                      (its payment is refunded);
//                                   2. the orchestrator as its own process, killed with SIGKILL in
//                                      the middle of a saga and started again: the new one resumes
//                                      every unfinished saga from the SQLite store.
//   example_order_saga --nats [URL] the same crash and restart with the three services as separate
//                                   processes over NATS and the saga store in JetStream key-value;
//                                   without URL it starts nats-server on a free loopback port in a
//                                   temp dir ("skipped: nats-server not found" when there is none).
//
// The services are idempotent consumers: each applies a step once per idempotency key (the saga
// gives every step the same key on every run and resume), in a SQLite transaction with the step's
// effect, so a step that runs again after the crash changes nothing.
// Invariants (exit 1 if broken): every saga completed or compensated exactly once, nothing lost
// (every order has its saga), a compensated order leaves no charge, no reservation and no
// shipment, stock adds up, each order's steps ran in order, a duplicated order ran once.
#include <bulwark/channel/async_bus.hpp>
#include <bulwark/channel/dead_letter.hpp>
#include <bulwark/channel/idempotent.hpp>
#include <bulwark/pipeline.hpp>
#include <bulwark/policy/retry.hpp>
#include <bulwark/saga/saga.hpp>
#include <bulwark/saga/sqlite_store.hpp>
#if BULWARK_EXAMPLE_NATS
#include <bulwark/channel/bus.hpp>
#include <bulwark/codec/json.hpp>
#include <bulwark/saga/jetstream_store.hpp>
#include <bulwark/transport/nats.hpp>
#endif

#include <sqlite3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

int violations = 0;
void check(bool ok, const std::string& invariant) {
    if (!ok) {
        std::printf("INVARIANT VIOLATED: %s\n", invariant.c_str());
        ++violations;
    }
}

// ---------------------------------------------------------------------------------------------
// The services: payment, inventory, shipping. Each keeps its state in its own SQLite file.

/// A small SQLite connection (the services' own database, not bulwark's).
class database {
public:
    explicit database(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            nullptr) != SQLITE_OK)
            throw std::runtime_error("cannot open " + path);
        sqlite3_busy_timeout(db_, 10000); // another process (the checker) may be reading
        exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
    }
    ~database() { sqlite3_close(db_); }
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    void exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string what = err ? err : "?";
            sqlite3_free(err);
            throw std::runtime_error("sqlite: " + what + " in " + sql);
        }
    }
    /// Runs `sql` with text parameters ?1, ?2, ... and calls `row` for each result row.
    template <class Row>
    void query(const std::string& sql, const std::vector<std::string>& params, Row row) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
        for (std::size_t i = 0; i < params.size(); ++i)
            sqlite3_bind_text(s, static_cast<int>(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT);
        int rc = 0;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            row(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    void run(const std::string& sql, const std::vector<std::string>& params = {}) {
        query(sql, params, [](sqlite3_stmt*) {});
    }

private:
    sqlite3* db_ = nullptr;
};

/// One step as a service receives it (in process or as a NATS request).
struct step_call {
    std::string order;
    std::string key; ///< the saga's idempotency key for this step (and compensation)
    std::string sku;
    int qty = 0;
    int cents = 0;
    bool compensate = false;
};

/// A service: applies each step once per idempotency key, in one transaction with its effect.
class service {
public:
    service(std::string name, const std::string& dir)
        : name_(std::move(name))
        , db_(dir + "/" + name_ + ".db") {
        db_.exec("CREATE TABLE IF NOT EXISTS applied(key TEXT PRIMARY KEY, runs INTEGER NOT NULL);"
                 "CREATE TABLE IF NOT EXISTS stock(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL);"
                 "INSERT OR IGNORE INTO stock VALUES('lamp', 100), ('desk', 1), ('chair', 40);");
    }
    const std::string& name() const noexcept { return name_; }

    bulwark::outcome<void> handle(const step_call& c) {
        std::this_thread::sleep_for(2ms); // the service's own work
        std::lock_guard lock(m_);
        if (name_ == "payment" && !c.compensate) {
            if ((c.order == "order-2" || c.order == "o-102") && timed_out_.insert(c.order).second)
                return bulwark::errc::timeout; // the gateway times out once: the retry rides it
            if (c.cents > 100000)
                return bulwark::errc::rejected; // card declined: final, nothing to undo
        }
        db_.exec("BEGIN IMMEDIATE");
        try {
            int runs = 0;
            db_.query("SELECT runs FROM applied WHERE key = ?1", {c.key},
                      [&](sqlite3_stmt* s) { runs = sqlite3_column_int(s, 0); });
            if (runs > 0) { // a repeat (redelivery, a resumed step): acknowledged, no effect
                db_.run("UPDATE applied SET runs = runs + 1 WHERE key = ?1", {c.key});
                db_.exec("COMMIT");
                return bulwark::outcome<void>::success();
            }
            if (name_ == "inventory") {
                int left = 0;
                db_.query("SELECT qty FROM stock WHERE sku = ?1", {c.sku},
                          [&](sqlite3_stmt* s) { left = sqlite3_column_int(s, 0); });
                if (!c.compensate && left < c.qty) {
                    db_.exec("ROLLBACK");
                    return bulwark::errc::rejected; // out of stock: final
                }
                const int delta = c.compensate ? c.qty : -c.qty;
                db_.run("UPDATE stock SET qty = qty + ?1 WHERE sku = ?2",
                        {std::to_string(delta), c.sku});
            }
            db_.run("INSERT INTO applied VALUES(?1, 1)", {c.key});
            db_.exec("COMMIT");
            return bulwark::outcome<void>::success();
        } catch (...) {
            db_.exec("ROLLBACK");
            throw;
        }
    }

    /// Idempotency key -> how often it arrived (1: applied once, more: repeats absorbed).
    std::map<std::string, int> applied() {
        std::lock_guard lock(m_);
        std::map<std::string, int> out;
        db_.query("SELECT key, runs FROM applied", {}, [&](sqlite3_stmt* s) {
            out[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] =
                sqlite3_column_int(s, 1);
        });
        return out;
    }
    int stock(const std::string& sku) {
        std::lock_guard lock(m_);
        int left = -1;
        db_.query("SELECT qty FROM stock WHERE sku = ?1", {sku},
                  [&](sqlite3_stmt* s) { left = sqlite3_column_int(s, 0); });
        return left;
    }

private:
    std::string name_;
    std::mutex m_;
    database db_;
    std::set<std::string> timed_out_;
};

/// The three services of one run, in this process.
struct local_services {
    explicit local_services(const std::string& dir)
        : payment("payment", dir)
        , inventory("inventory", dir)
        , shipping("shipping", dir) {}
    service payment, inventory, shipping;

    bulwark::outcome<void> operator()(std::string_view name, const step_call& c) {
        return name == "payment"     ? payment.handle(c)
               : name == "inventory" ? inventory.handle(c)
                                     : shipping.handle(c);
    }
};

// ---------------------------------------------------------------------------------------------
// The saga: the same definition in every mode; only `call` (how a step reaches its service)
// and the store change.

/// An order: the saga's input, kept in the saga's data.
struct order {
    std::string id;
    std::string sku;
    int qty = 0;
    int cents = 0;
};

bulwark::saga_data data_of(const order& o) {
    return {{"sku", o.sku}, {"qty", std::to_string(o.qty)}, {"cents", std::to_string(o.cents)}};
}

step_call call_of(bulwark::saga_context& sc) {
    auto& d = sc.data();
    return {sc.saga_id(),        sc.idempotency_key(),  d["sku"],
            std::stoi(d["qty"]), std::stoi(d["cents"]), sc.compensating()};
}

/// `call(service name, step_call) -> outcome<void>`; `listener` hears every saga event.
template <class Call>
auto make_order_saga(Call& call, std::function<void(const bulwark::saga_event&)> listener) {
    auto to = [&call](const char* name) {
        return [&call, name](bulwark::saga_context& sc) { return call(name, call_of(sc)); };
    };
    // Actions retry what may pass on a second try (a timeout) but not a final answer (a decline,
    // an empty shelf); compensations retry longer: an undo must get through.
    const auto action = bulwark::pipeline{bulwark::retry{
        .max_attempts = 3,
        .backoff = bulwark::exponential_backoff{
            .base = 1ms, .cap = 4ms}}.retry_if([](const bulwark::outcome<void>& o) {
        return !o.has_value() && o.error().code != bulwark::errc::rejected;
    })};
    const auto undo = bulwark::pipeline{bulwark::retry{
        .max_attempts = 10, .backoff = bulwark::exponential_backoff{.base = 1ms, .cap = 50ms}}};
    return bulwark::saga{bulwark::saga_options{.name = "order", .listener = std::move(listener)},
                         bulwark::step{"payment", to("payment"), to("payment"), action, undo},
                         bulwark::step{"inventory", to("inventory"), to("inventory"), action, undo},
                         bulwark::step{"shipping", to("shipping")}};
}

// ---------------------------------------------------------------------------------------------
// Processes: the example re-executes itself as orchestrator or service.

std::string self_exe() {
    return std::filesystem::read_symlink("/proc/self/exe").string();
}

/// Starts this program again with `args`; `fds` maps child fd -> parent fd. The child dies with
/// the parent (PR_SET_PDEATHSIG), so nothing outlives a crashed example.
pid_t spawn(const std::vector<std::string>& args, const std::vector<std::pair<int, int>>& fds) {
    const std::string exe = self_exe();
    std::vector<std::string> all{exe};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) { // only async-signal-safe calls from here to execv
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(1);
        for (auto [child_fd, parent_fd] : fds)
            ::dup2(parent_fd, child_fd);
        ::execv(exe.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// A temp directory, removed at the end.
struct temp_dir {
    temp_dir() {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / "bulwark-order-saga-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string path;
};

/// The orders the orchestrator process works through: o-105's card is declined, o-110 wants
/// more chairs than the shelf holds (its payment is refunded), o-102's gateway times out once.
std::vector<order> crash_orders() {
    std::vector<order> out;
    for (int i = 101; i <= 112; ++i)
        out.push_back({"o-" + std::to_string(i), "chair", i == 110 ? 50 : 1 + i % 3,
                       i == 105 ? 250000 : 1000 * (i - 100)});
    return out;
}

/// The fd on which an orchestrator reports each completed step to the parent.
constexpr int progress_fd = 10;

/// An orchestrator process: resumes what the store holds unfinished, then runs every order of
/// the queue (a finished one is returned as it is: `run` of a known id does not start it again).
template <class Store, class Call>
int orchestrate(Store& store, Call& call) {
    std::setvbuf(stdout, nullptr, _IONBF, 0); // a killed process loses no line
    const auto me = static_cast<long>(::getpid());
    auto s = make_order_saga(call, [&](const bulwark::saga_event& e) {
        if (e.kind == bulwark::saga_event_kind::step_completed ||
            e.kind == bulwark::saga_event_kind::step_compensated) {
            const char step = static_cast<char>(e.step);
            (void)!::write(progress_fd, &step, 1);
        }
        if (e.kind == bulwark::saga_event_kind::resumed)
            std::printf("    orchestrator %ld: resuming %.*s from the store\n", me,
                        static_cast<int>(e.saga_id.size()), e.saga_id.data());
    });
    std::printf("    orchestrator %ld: started\n", me);
    int resumed = 0;
    for (auto& r : s.resume_all(store)) {
        if (!r) {
            std::printf("    orchestrator %ld: resume failed: %s\n", me,
                        r.error().error_code().message().c_str());
            return 1;
        }
        ++resumed;
    }
    for (const auto& o : crash_orders()) {
        auto r = s.run(store, o.id, data_of(o));
        if (!r) {
            std::printf("    orchestrator %ld: %s failed: %s\n", me, o.id.c_str(),
                        r.error().error_code().message().c_str());
            return 1;
        }
    }
    std::printf("    orchestrator %ld: %d saga(s) resumed, every order done\n", me, resumed);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Over NATS: the services answer requests, the saga store is a JetStream key-value bucket.
#if BULWARK_EXAMPLE_NATS

struct step_reply {
    [[maybe_unused]] static constexpr std::string_view subject = "shop.saga.reply";
    bool ok = false;
    std::string error;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("ok", &step_reply::ok), bulwark::field("error", &step_reply::error));
};

constexpr std::string_view service_names[] = {"payment", "inventory", "shipping"};
constexpr std::string_view service_subjects[] = {"shop.saga.payment", "shop.saga.inventory",
                                                 "shop.saga.shipping"};

/// A step request to service `I` (one type per service: one subject each).
template <std::size_t I>
struct step_request {
    static constexpr std::string_view subject = service_subjects[I];
    using reply_type = step_reply;
    std::string order, key, sku;
    int qty = 0;
    int cents = 0;
    bool compensate = false;
    static constexpr auto json_fields = bulwark::json_fields(
        bulwark::field("order", &step_request::order), bulwark::field("key", &step_request::key),
        bulwark::field("sku", &step_request::sku), bulwark::field("qty", &step_request::qty),
        bulwark::field("cents", &step_request::cents),
        bulwark::field("compensate", &step_request::compensate));
};
using saga_topics = bulwark::topics<step_request<0>, step_request<1>, step_request<2>, step_reply>;
using nats_bus = bulwark::bus<saga_topics, bulwark::nats_transport, bulwark::json_codec>;

/// The orchestrator's `call`: a request to the service's process, 2 s to answer.
struct remote_services {
    nats_bus& bus;

    template <std::size_t I>
    bulwark::outcome<void> ask(const step_call& c) {
        auto r = bus.request<step_request<I>>(
            step_request<I>{c.order, c.key, c.sku, c.qty, c.cents, c.compensate}, 2s);
        if (!r)
            return r.error();
        if (!r->ok)
            return r->error == "rejected" ? bulwark::errc::rejected : bulwark::errc::timeout;
        return bulwark::outcome<void>::success();
    }
    bulwark::outcome<void> operator()(std::string_view name, const step_call& c) {
        return name == "payment" ? ask<0>(c) : name == "inventory" ? ask<1>(c) : ask<2>(c);
    }
};

bulwark::nats_transport connect(const std::string& url, const std::string& name) {
    return bulwark::nats_transport({.servers = {url}, .name = name, .connect_timeout = 2s});
}

/// A service process: answers its subject until its stdin closes (the parent ended).
template <std::size_t I>
int serve(const std::string& dir, const std::string& url) {
    service svc(std::string(service_names[I]), dir);
    auto nats = connect(url, svc.name());
    nats_bus bus(nats);
    auto sub = bus.respond<step_request<I>>([&](const step_request<I>& q) {
        auto r = svc.handle({q.order, q.key, q.sku, q.qty, q.cents, q.compensate});
        if (r)
            return step_reply{true, ""};
        return step_reply{false, r.error().code == bulwark::errc::rejected ? "rejected" : "failed"};
    });
    (void)nats.flush(); // the server knows the subscription before the parent hears "ready"
    const char ready = 1;
    (void)!::write(progress_fd, &ready, 1);
    char byte = 0;
    while (::read(0, &byte, 1) > 0) {
    }
    return 0;
}

/// A nats-server with JetStream on a free loopback port in a temp dir.
class local_nats_server {
public:
    static std::string binary() {
        std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
        path += ":/usr/sbin:/usr/local/sbin:/usr/local/bin";
        for (std::size_t at = 0; at <= path.size();) {
            auto end = path.find(':', at);
            if (end == std::string::npos)
                end = path.size();
            const std::string candidate = path.substr(at, end - at) + "/nats-server";
            if (end > at && ::access(candidate.c_str(), X_OK) == 0)
                return candidate;
            at = end + 1;
        }
        return "";
    }

    explicit local_nats_server(const std::string& bin) {
        port_ = free_port();
        const std::string conf = dir_.path + "/server.conf";
        std::ofstream(conf) << "listen: 127.0.0.1:" << port_ << "\njetstream { store_dir: \""
                            << dir_.path
                            << "/js\", max_memory_store: 64MB, max_file_store: 256MB }\n";
        const std::string log = dir_.path + "/server.log";
        std::vector<std::string> args{bin, "-c", conf};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        const int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(1);
            ::dup2(logfd, 1);
            ::dup2(logfd, 2);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(logfd);
        for (int i = 0; i < 1000 && !accepts(); ++i) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_)
                throw std::runtime_error("nats-server exited at start; see " + log);
            std::this_thread::sleep_for(10ms);
        }
    }
    ~local_nats_server() {
        ::kill(pid_, SIGTERM);
        (void)wait_exit(pid_);
    }
    local_nats_server(const local_nats_server&) = delete;
    local_nats_server& operator=(const local_nats_server&) = delete;
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

private:
    static int free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("no free port");
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(fd);
        return ntohs(a.sin_port);
    }
    bool accepts() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(port_));
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }

    temp_dir dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

#endif // BULWARK_EXAMPLE_NATS

// ---------------------------------------------------------------------------------------------
// The parent's side of the crash: start, kill, restart, check.

/// Waits for `n` progress bytes on `fd` (false if the writer ended first).
bool await_progress(int fd, int n) {
    for (int got = 0; got < n;) {
        char b = 0;
        if (::read(fd, &b, 1) != 1)
            return false;
        ++got;
    }
    return true;
}

/// Runs the first orchestrator, kills it with SIGKILL after `kill_after` completed steps, reports
/// what the store holds unfinished, then runs a second one to the end. Returns false when an
/// orchestrator failed.
template <class Store>
bool crash_and_restart(Store& store, const std::vector<std::string>& orchestrator_args,
                       int kill_after) {
    auto unfinished = [&] {
        std::string out;
        int n = 0;
        for (auto st : {bulwark::saga_status::running, bulwark::saga_status::compensating})
            for (const auto& r : store.list(st).value()) {
                out += (n++ ? ", " : "") + r.id + " (" + std::string(to_string(r.status)) + ", " +
                       std::to_string(r.completed_steps) + "/3 steps done)";
            }
        return n == 0 ? std::string("none (the kill fell between two sagas)") : out;
    };
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    const pid_t first = spawn(orchestrator_args, {{progress_fd, p[1]}});
    if (!await_progress(p[0], kill_after)) {
        std::printf("  the first orchestrator ended before the kill (exit %d)\n", wait_exit(first));
        return false;
    }
    ::kill(first, SIGKILL);
    const int killed = wait_exit(first);
    std::printf("  killed orchestrator %ld with SIGKILL after %d steps (exit %d); unfinished in "
                "the store: %s\n",
                static_cast<long>(first), kill_after, killed, unfinished().c_str());
    const pid_t second = spawn(orchestrator_args, {{progress_fd, p[1]}});
    ::close(p[1]);
    const int code = wait_exit(second);
    ::close(p[0]);
    return code == 0;
}

/// Checks the crash run: every order's saga finished exactly once, effects match the outcome.
template <class Store>
void check_crash_run(Store& store, local_services& svc) {
    auto pay = svc.payment.applied();
    auto inv = svc.inventory.applied();
    auto ship = svc.shipping.applied();
    int completed = 0, compensated = 0, repeats = 0, chairs_out = 0;
    std::string undone;
    for (const auto* m : {&pay, &inv, &ship})
        for (const auto& [key, runs] : *m)
            repeats += runs - 1;
    for (const auto& o : crash_orders()) {
        auto rec = store.load(o.id).value();
        check(rec.has_value(), o.id + " has its saga (nothing lost)");
        if (!rec)
            continue;
        const std::string k = o.id + ":";
        if (rec->status == bulwark::saga_status::completed) {
            ++completed;
            chairs_out += o.qty;
            check(pay.contains(k + "payment") && inv.contains(k + "inventory") &&
                      ship.contains(k + "shipping"),
                  o.id + " completed: charged, reserved, shipped");
            check(!pay.contains(k + "payment:compensate") &&
                      !inv.contains(k + "inventory:compensate"),
                  o.id + " completed: nothing undone");
        } else if (rec->status == bulwark::saga_status::compensated) {
            ++compensated;
            const char* failed = rec->failed_step == 1   ? "payment"
                                 : rec->failed_step == 2 ? "inventory"
                                                         : "shipping";
            undone += (undone.empty() ? "" : ", ") + o.id + " (" + failed + " " + rec->error + ")";
            for (std::uint32_t step = 1; step < rec->failed_step; ++step) {
                const std::string name = step == 1 ? "payment" : "inventory";
                auto& m = step == 1 ? pay : inv;
                check(m.contains(k + name) && m.contains(k + name + ":compensate"),
                      o.id + ": its completed step " + name + " was undone");
            }
            check(!ship.contains(k + "shipping"), o.id + " compensated: nothing shipped");
        } else {
            check(false, o.id + " completed or compensated (is " +
                             std::string(to_string(rec->status)) + ")");
        }
    }
    auto failed_at = [&](const char* id) {
        auto r = store.load(id).value();
        return r ? r->failed_step : 0u;
    };
    check(failed_at("o-105") == 1, "o-105's payment is declined");
    check(failed_at("o-110") == 2, "o-110 finds the shelf short");
    check(svc.inventory.stock("chair") == 40 - chairs_out, "chair stock adds up");
    std::printf("  %d sagas: %d completed, %d compensated: %s\n", completed + compensated,
                completed, compensated, undone.c_str());
    std::printf("  %d repeated step(s) absorbed by idempotency keys; chairs left: %d of 40\n",
                repeats, svc.inventory.stock("chair"));
}

// ---------------------------------------------------------------------------------------------
// 1. In process: orders on an async bus, each run as a saga.

struct order_submitted {
    [[maybe_unused]] static constexpr std::string_view subject = "orders.submitted";
    order o;
};
using order_topics = bulwark::topics<order_submitted>;

void in_process(const std::string& dir) {
    std::printf("1. in process (async bus, 2 consumers, SQLite saga store):\n");
    local_services svc(dir);
    bulwark::sqlite_saga_store store(dir + "/sagas.db");
    std::mutex m;
    std::map<std::string, std::vector<std::string>> log; // per order, events in order
    auto s = make_order_saga(svc, [&](const bulwark::saga_event& e) {
        std::lock_guard lock(m);
        if (e.kind == bulwark::saga_event_kind::step_completed)
            log[std::string(e.saga_id)].push_back(std::string(e.step_name));
        if (e.kind == bulwark::saga_event_kind::step_compensated)
            log[std::string(e.saga_id)].push_back("undo " + std::string(e.step_name));
    });
    const std::vector<order> submitted{
        {"order-1", "lamp", 2, 4000},   {"order-2", "lamp", 1, 2000},
        {"order-3", "desk", 1, 250000}, // payment declined: nothing to undo
        {"order-4", "desk", 1, 30000},  {"order-5", "desk", 1, 30000}, // one desk: one refund
    };
    std::map<std::string, bulwark::saga_result> result;
    bulwark::dead_letter_box<bulwark::async_message<order_submitted>> dead;
    auto inbox = std::make_shared<bulwark::dedupe_window<bulwark::message_id>>(1024);
    {
        bulwark::async_bus<order_topics> orders;
        auto orchestrator = orders.subscribe<order_submitted>(
            [&](bulwark::bus_delivery<order_submitted>& d) {
                const order& o = d.message().message.o;
                auto r = s.run(store, o.id, data_of(o));
                if (!r) {
                    d.nack("saga store failed");
                    return;
                }
                std::lock_guard lock(m);
                result[o.id] = std::move(*r);
                d.ack();
            },
            {.consumers = 2,
             .per_key_order = true,
             .delivery = bulwark::at_least_once{.max_deliveries = 3},
             .dead_letter = dead.sink()},
            inbox);
        bulwark::message_metadata order1;
        order1.id = bulwark::message_id::generate();
        for (const auto& o : submitted) {
            bulwark::message_metadata md;
            if (o.id == "order-1")
                md = order1;
            (void)orders.publish(order_submitted{o}, {.metadata = md, .key = o.id});
        }
        (void)orders.publish(order_submitted{submitted[0]}, {.metadata = order1, .key = "order-1"});
        orders.drain();
    }

    const std::vector<std::string> happy{"payment", "inventory", "shipping"};
    // A late repeat: the step again with its key (a redelivery after a lost ack), and the saga
    // started again with its id (a redelivered "start"): neither changes anything.
    (void)svc.payment.handle({"order-1", "order-1:payment", "lamp", 2, 4000, false});
    auto again = s.run(store, "order-1", {});
    check(again && again->status == bulwark::saga_status::completed && log["order-1"].size() == 3,
          "a repeated start of order-1 returns its end without running a step");
    check(svc.payment.applied()["order-1:payment"] == 2, "a repeated payment step is absorbed");

    int lamps_out = 0, desks_out = 0;
    for (const auto& o : submitted) {
        const std::string& id = o.id;
        const auto& r = result[id];
        std::string steps;
        for (const auto& e : log[id])
            steps += (steps.empty() ? "" : " -> ") + e;
        const std::string why =
            r.failed_step ? "(" + happy[r.failed_step - 1] + " " + r.error + ")" : "";
        std::printf("  %s: %-12s %-32s [%s]\n", id.c_str(),
                    std::string(to_string(r.status)).c_str(), why.c_str(), steps.c_str());
        const std::string k = id + ":";
        auto pay = svc.payment.applied();
        auto inv = svc.inventory.applied();
        auto ship = svc.shipping.applied();
        if (r.status == bulwark::saga_status::completed) {
            check(log[id] == happy, id + "'s steps ran in order");
            check(pay.contains(k + "payment") && ship.contains(k + "shipping"),
                  id + " completed: charged and shipped");
            (o.sku == "lamp" ? lamps_out : desks_out) += o.qty;
        } else {
            check(r.status == bulwark::saga_status::compensated, id + " completed or compensated");
            check(!ship.contains(k + "shipping") && !inv.contains(k + "inventory"),
                  id + " compensated: no reservation, no shipment");
            check(!pay.contains(k + "payment") || pay.contains(k + "payment:compensate"),
                  id + " compensated: no charge left");
        }
    }
    check(result["order-3"].failed_step == 1, "order-3's payment is declined");
    const bool four_lost = result["order-4"].failed_step == 2;
    const bool five_lost = result["order-5"].failed_step == 2;
    check(four_lost != five_lost, "exactly one of order-4 / order-5 misses the last desk");
    check(log[four_lost ? "order-4" : "order-5"] ==
              std::vector<std::string>{"payment", "undo payment"},
          "the order that missed the desk is refunded");
    check(svc.inventory.stock("lamp") == 100 - lamps_out &&
              svc.inventory.stock("desk") == 1 - desks_out,
          "stock adds up");
    check(inbox->duplicates() == 1, "the duplicated order-1 ran once");
    check(dead.items().empty(), "no order dead-lettered");
    std::printf("  duplicate orders dropped: %llu; a repeated payment step and a repeated start "
                "of order-1 changed nothing; dead letters: %zu\n",
                static_cast<unsigned long long>(inbox->duplicates()), dead.items().size());
}

int report() {
    if (violations != 0) {
        std::printf("%d invariant(s) violated\n", violations);
        return 1;
    }
    std::printf("all invariants held: every saga completed or compensated exactly once, nothing "
                "lost\n");
    return 0;
}

#if BULWARK_EXAMPLE_NATS
int over_nats(const std::string& given_url) {
    std::unique_ptr<local_nats_server> server;
    std::string url = given_url;
    if (url.empty()) {
        const std::string bin = local_nats_server::binary();
        if (bin.empty()) {
            std::printf("skipped: nats-server not found (install nats-server or pass a URL: "
                        "--nats nats://host:4222)\n");
            return 0;
        }
        server = std::make_unique<local_nats_server>(bin);
        url = server->url();
    }
    temp_dir dir;
    std::printf("over NATS (%s): payment, inventory, shipping and the orchestrator as separate "
                "processes, saga store in JetStream key-value:\n",
                url.c_str());
    // The services: one process each, alive until `alive`'s write end closes.
    int alive[2], ready[2];
    if (::pipe2(alive, O_CLOEXEC) != 0 || ::pipe2(ready, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    std::vector<pid_t> services;
    for (auto name : service_names)
        services.push_back(spawn({"--service", std::string(name), dir.path, url},
                                 {{0, alive[0]}, {progress_fd, ready[1]}}));
    ::close(alive[0]);
    ::close(ready[1]);
    if (!await_progress(ready[0], 3)) {
        std::printf("a service process did not start\n");
        return 1;
    }
    ::close(ready[0]);
    std::printf("  services up: payment %ld, inventory %ld, shipping %ld\n",
                static_cast<long>(services[0]), static_cast<long>(services[1]),
                static_cast<long>(services[2]));
    auto nats = connect(url, "order-saga-checker");
    // A fresh bucket per run: a server given by URL may hold an earlier run's sagas.
    const std::string bucket = "ORDER_SAGAS_" + std::to_string(::getpid());
    bulwark::jetstream_saga_store store(nats, {.bucket = bucket});
    const bool ran = crash_and_restart(store, {"--orchestrator", dir.path, url, bucket}, 8);
    ::close(alive[1]); // the services end
    for (auto pid : services)
        (void)wait_exit(pid);
    check(ran, "the restarted orchestrator finished every order");
    local_services svc(dir.path); // their files, read after the services ended
    check_crash_run(store, svc);
    return report();
}
#endif

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        // The roles this program takes when it starts itself again.
        if (args.size() >= 2 && args[0] == "--orchestrator") {
            if (args.size() == 2) { // in process: services in this process, SQLite store
                local_services svc(args[1]);
                bulwark::sqlite_saga_store store(args[1] + "/sagas.db");
                return orchestrate(store, svc);
            }
#if BULWARK_EXAMPLE_NATS
            auto nats = connect(args[2], "order-orchestrator");
            nats_bus bus(nats);
            remote_services call{bus};
            bulwark::jetstream_saga_store store(nats, {.bucket = args[3]});
            return orchestrate(store, call);
#endif
        }
#if BULWARK_EXAMPLE_NATS
        if (args.size() == 4 && args[0] == "--service") {
            if (args[1] == "payment")
                return serve<0>(args[2], args[3]);
            if (args[1] == "inventory")
                return serve<1>(args[2], args[3]);
            return serve<2>(args[2], args[3]);
        }
#endif
        if (!args.empty() && args[0] == "--nats") {
#if BULWARK_EXAMPLE_NATS
            return over_nats(args.size() > 1 ? args[1] : "");
#else
            std::printf("skipped: this build has no NATS transport (install libnats-dev and "
                        "nlohmann-json3-dev, then reconfigure)\n");
            return 0;
#endif
        }
        if (!args.empty()) {
            std::printf("usage: example_order_saga [--nats [nats://host:port]]\n");
            return 2;
        }

        temp_dir dir;
        std::filesystem::create_directory(dir.path + "/inproc");
        std::filesystem::create_directory(dir.path + "/crash");
        in_process(dir.path + "/inproc");

        std::printf("2. the orchestrator as a process, killed mid-saga and restarted (SQLite "
                    "saga store):\n");
        const std::string crash = dir.path + "/crash";
        {
            bulwark::sqlite_saga_store store(crash + "/sagas.db");
            const bool ran = crash_and_restart(store, {"--orchestrator", crash}, 10);
            check(ran, "the restarted orchestrator finished every order");
        }
        bulwark::sqlite_saga_store store(crash + "/sagas.db");
        local_services svc(crash);
        check_crash_run(store, svc);
        return report();
    } catch (const std::exception& e) {
        std::printf("order_saga failed: %s\n", e.what());
        return 1;
    }
}
