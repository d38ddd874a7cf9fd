#pragma once
// Test fixture: real nats-server processes on 127.0.0.1 (single node with JetStream, or a
// 3-node JetStream cluster), on free ports, with JetStream stores in a temp dir capped at
// 256 MB memory / 1 GB file. The servers die with the test process (PR_SET_PDEATHSIG), even if
// it crashes; the fixture waits until they accept connections (and, for a cluster, until a
// JetStream meta leader exists), as ../shared/reference/nats.md measured.
//
// The binary: $NATS_SERVER_BIN, else the path CMake found (BULWARK_NATS_SERVER), else PATH and
// /usr/sbin. Without one, tests print "skipped: nats-server not found" (BULWARK_NEED_NATS).

#include <nats/nats.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::testing {

/// The nats-server binary, or "" when there is none.
inline std::string nats_server_binary() {
    if (const char* env = std::getenv("NATS_SERVER_BIN"); env && *env)
        return ::access(env, X_OK) == 0 ? env : "";
#ifdef BULWARK_NATS_SERVER
    if (::access(BULWARK_NATS_SERVER, X_OK) == 0)
        return BULWARK_NATS_SERVER;
#endif
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/sbin:/usr/local/sbin:/usr/local/bin";
    std::size_t at = 0;
    while (at <= path.size()) {
        auto end = path.find(':', at);
        if (end == std::string::npos)
            end = path.size();
        std::string candidate = path.substr(at, end - at) + "/nats-server";
        if (end > at && ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        at = end + 1;
    }
    return "";
}

/// A free TCP port on 127.0.0.1 (bind to 0, read it back, close).
inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("free_port: bind failed");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

inline bool port_accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

/// A fresh temp directory, removed by the destructor.
class temp_dir {
public:
    explicit temp_dir(const std::string& tag) {
        std::string tmpl =
            (std::filesystem::temp_directory_path() / ("bulwark-" + tag + "-XXXXXX")).string();
        if (::mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

/// One nats-server process, started from a config file.
class nats_process {
public:
    nats_process() = default;
    nats_process(std::string binary, std::string conf, std::string log, int port)
        : binary_(std::move(binary))
        , conf_(std::move(conf))
        , log_(std::move(log))
        , port_(port) {}
    nats_process(const nats_process&) = delete;
    nats_process& operator=(const nats_process&) = delete;
    ~nats_process() { stop(SIGKILL); }

    /// Spawns the server and waits (up to 10 s) until its client port accepts.
    void start() {
        if (pid_ > 0)
            return;
        // Everything the child needs is prepared before fork: after fork, in a process with
        // cnats threads, only async-signal-safe calls are allowed.
        std::vector<std::string> args{binary_, "-c", conf_};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t parent = ::getpid();
        int logfd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        pid_t pid = ::fork();
        if (pid < 0)
            throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL); // dies with the test process
            if (::getppid() != parent)
                ::_exit(1); // the parent died before prctl
            if (logfd >= 0) {
                ::dup2(logfd, 1);
                ::dup2(logfd, 2);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        if (logfd >= 0)
            ::close(logfd);
        pid_ = pid;
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!port_accepts(port_)) {
            int st = 0;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("nats-server exited at start; see " + log_);
            }
            if (std::chrono::steady_clock::now() > until)
                throw std::runtime_error("nats-server did not accept within 10 s; see " + log_);
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
    }
    /// Stops the server with `sig` (SIGKILL: a crash; SIGINT: graceful) and reaps it.
    void stop(int sig = SIGINT) {
        if (pid_ <= 0)
            return;
        ::kill(pid_, sig);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
    }
    bool running() const noexcept { return pid_ > 0; }
    int port() const noexcept { return port_; }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    const std::string& log() const noexcept { return log_; }

private:
    std::string binary_, conf_, log_;
    int port_ = 0;
    pid_t pid_ = -1;
};

/// A single nats-server with JetStream, on a fixed free port (so a restart keeps the URL).
class nats_server {
public:
    explicit nats_server(const std::string& binary)
        : dir_("nats") {
        int port = free_port();
        std::string conf = dir_.path() + "/server.conf";
        std::ofstream f(conf);
        f << "listen: 127.0.0.1:" << port << "\n"
          << "jetstream { store_dir: \"" << dir_.path()
          << "/js\", max_memory_store: 256MB, max_file_store: 1GB }\n";
        f.close();
        proc_ = std::make_unique<nats_process>(binary, conf, dir_.path() + "/server.log", port);
        proc_->start();
    }
    std::string url() const { return proc_->url(); }
    void kill9() { proc_->stop(SIGKILL); }
    void stop() { proc_->stop(SIGINT); }
    void start() { proc_->start(); }
    bool running() const { return proc_->running(); }

private:
    temp_dir dir_;
    std::unique_ptr<nats_process> proc_;
};

/// Polls `js_GetAccountInfo` through a short-lived connection to `urls` until JetStream answers
/// (a cluster's meta leader exists), for up to `budget`. `/healthz` is not enough for a cluster.
inline bool wait_jetstream_ready(const std::vector<std::string>& urls,
                                 std::chrono::seconds budget = std::chrono::seconds(20)) {
    auto until = std::chrono::steady_clock::now() + budget;
    natsOptions* o = nullptr;
    natsOptions_Create(&o);
    std::vector<const char*> u;
    for (auto& s : urls)
        u.push_back(s.c_str());
    natsOptions_SetServers(o, u.data(), static_cast<int>(u.size()));
    natsOptions_SetTimeout(o, 1000);
    natsConnection* nc = nullptr;
    while (natsConnection_Connect(&nc, o) != NATS_OK) {
        if (std::chrono::steady_clock::now() > until) {
            natsOptions_Destroy(o);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    natsOptions_Destroy(o);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 200;
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, &jo);
    bool ok = false;
    while (!ok && std::chrono::steady_clock::now() < until) {
        jsAccountInfo* ai = nullptr;
        jsErrCode jerr{};
        if (js_GetAccountInfo(&ai, js, nullptr, &jerr) == NATS_OK) {
            jsAccountInfo_Destroy(ai);
            ok = true;
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return ok;
}

/// A 3-node JetStream cluster on loopback (client and route ports free, full route mesh).
class nats_cluster {
public:
    explicit nats_cluster(const std::string& binary)
        : dir_("natscluster") {
        int cp[3], rp[3];
        for (int i = 0; i < 3; ++i) {
            cp[i] = free_port();
            rp[i] = free_port();
        }
        for (int i = 0; i < 3; ++i) {
            std::string conf = dir_.path() + "/n" + std::to_string(i) + ".conf";
            std::ofstream f(conf);
            f << "server_name: n" << i << "\n"
              << "listen: 127.0.0.1:" << cp[i] << "\n"
              << "jetstream { store_dir: \"" << dir_.path() << "/sd" << i
              << "\", max_memory_store: 256MB, max_file_store: 1GB }\n"
              << "cluster {\n  name: bulwark\n  listen: 127.0.0.1:" << rp[i] << "\n  routes: [\n";
            for (int j = 0; j < 3; ++j)
                f << "    nats-route://127.0.0.1:" << rp[j] << "\n";
            f << "  ]\n}\n";
            f.close();
            nodes_[i] = std::make_unique<nats_process>(
                binary, conf, dir_.path() + "/n" + std::to_string(i) + ".log", cp[i]);
        }
        for (auto& n : nodes_)
            n->start();
        if (!wait_jetstream_ready(urls()))
            throw std::runtime_error("nats cluster: no JetStream meta leader within 20 s");
    }
    std::vector<std::string> urls() const {
        return {nodes_[0]->url(), nodes_[1]->url(), nodes_[2]->url()};
    }
    nats_process& node(int i) { return *nodes_[static_cast<std::size_t>(i)]; }
    /// The node whose client URL is `url` (-1 if none).
    int index_of(const std::string& url) const {
        for (int i = 0; i < 3; ++i)
            if (url.find(":" + std::to_string(nodes_[static_cast<std::size_t>(i)]->port())) !=
                std::string::npos)
                return i;
        return -1;
    }

private:
    temp_dir dir_;
    std::unique_ptr<nats_process> nodes_[3];
};

} // namespace bulwark::testing

/// At the top of a test that needs nats-server: prints "skipped: nats-server not found" and
/// returns when there is none. Tag such tests [nats-server].
#define BULWARK_NEED_NATS(binary_var)                                                              \
    const std::string binary_var = ::bulwark::testing::nats_server_binary();                       \
    if (binary_var.empty()) {                                                                      \
        WARN("skipped: nats-server not found (install nats-server or set NATS_SERVER_BIN)");       \
        std::printf("skipped: nats-server not found\n");                                           \
        return;                                                                                    \
    }
