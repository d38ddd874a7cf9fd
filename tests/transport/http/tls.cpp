// TLS round trip: a certificate generated at test time (openssl CLI) for 127.0.0.1, our Beast
// server speaking TLS with it, and the transport verifying the chain and the host.

#include <bulwark/transport/http.hpp>

#include "support/http_server.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace std::chrono_literals;
using bulwark::test::http_server;
using bulwark::test::reply;
using bulwark::test::request_info;

namespace {
std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}
} // namespace

TEST_CASE("http tls: a round trip with a generated certificate (needs openssl)",
          "[transport][http][tls]") {
#if !BULWARK_HTTP_TLS
    WARN("skipped: this build has no TLS (bulwark::http found no OpenSSL)");
    return;
#else
    if (std::system("openssl version > /dev/null 2>&1") != 0) {
        WARN("skipped: the openssl command is missing (it generates the test certificate)");
        return;
    }
    const auto dir =
        std::filesystem::temp_directory_path() / ("bulwark-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                            "-addext subjectAltName=IP:127.0.0.1 -keyout " +
                            (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() +
                            " > /dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const std::string cert = slurp(dir / "cert.pem"), key = slurp(dir / "key.pem");
    std::filesystem::remove_all(dir);

    http_server srv([](const request_info& r) { return reply::ok("secure " + r.target); },
                    {.cert_pem = cert, .key_pem = key});
    bulwark::http_transport http({.tls = bulwark::http_tls_options{.ca_pem = cert}});
    for (int i = 0; i < 3; ++i) {
        bulwark::context ctx(std::chrono::steady_clock::now() + 10s);
        auto res = http.send(srv.address(), {.target = "/tls"}, ctx);
        REQUIRE(res.has_value());
        CHECK(res->body == "secure /tls");
    }
    CHECK(srv.accepted() == 1); // the TLS session is kept alive and reused

    // A client that does not trust the certificate refuses the server.
    bulwark::http_transport strict({.tls = bulwark::http_tls_options{.ca_pem = ""}});
    bulwark::context ctx(std::chrono::steady_clock::now() + 10s);
    CHECK(strict.send(srv.address(), {.target = "/tls"}, ctx).code() ==
          bulwark::errc::transport_error);
#endif
}
