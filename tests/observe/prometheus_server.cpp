#include <bulwark/observe/listener.hpp>
#include <bulwark/observe/prometheus_server.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace bulwark;

namespace {
/// One HTTP/1.1 request to 127.0.0.1:port; returns the whole response.
std::string http(std::uint16_t port, const std::string& request_line) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    const std::string req = request_line + "\r\nHost: 127.0.0.1\r\n\r\n";
    boost::asio::write(s, boost::asio::buffer(req));
    std::string out;
    boost::system::error_code ec;
    boost::asio::read(s, boost::asio::dynamic_buffer(out), ec); // until the server closes
    return out;
}
} // namespace

TEST_CASE("prometheus_server serves the exposition on loopback", "[observe][prometheus][http]") {
    metrics_registry reg;
    auto l = reg.listener({.pipeline = "checkout", .policy = "payments"});
    emit(l, events::breaker_rejected{});
    prometheus_server server(reg);
    REQUIRE(server.port() != 0);

    auto ok = http(server.port(), "GET /metrics HTTP/1.1");
    CHECK(ok.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    const auto body = ok.substr(ok.find("\r\n\r\n") + 4);
    CHECK(body == to_prometheus(reg));
    CHECK(body.find("bulwark_breaker_not_permitted_calls_total{pipeline=\"checkout\",name="
                    "\"payments\"} 1\n") != std::string::npos);

    // the next scrape sees new counts
    emit(l, events::breaker_rejected{});
    CHECK(http(server.port(), "GET /metrics?x=1 HTTP/1.1").find("name=\"payments\"} 2\n") !=
          std::string::npos);
    CHECK(http(server.port(), "GET /other HTTP/1.1").rfind("HTTP/1.1 404", 0) == 0);
    CHECK(http(server.port(), "POST /metrics HTTP/1.1").rfind("HTTP/1.1 405", 0) == 0);
}

TEST_CASE("prometheus_server rejects a bad address", "[observe][prometheus][http]") {
    metrics_registry reg;
    CHECK_THROWS_WITH(prometheus_server(reg, {.address = "localhost:80"}),
                      Catch::Contains("bulwark::prometheus_server: address must be an IP address"));
}
