#pragma once
/// \file
/// `http_health_probe`: the registry's active health check over HTTP — GET a path on the
/// endpoint, healthy on a 2xx within the checker's timeout.
///
/// ```cpp
/// bulwark::http_transport http;
/// bulwark::health_checker checker{reg, bulwark::http_health_probe{&http, "/healthz"},
///                                 {.interval = 5s, .timeout = 500ms}};
/// ```

#include <bulwark/balance/endpoint.hpp>
#include <bulwark/core/context.hpp>
#include <bulwark/transport/http.hpp>

#include <string>
#include <utility>

namespace bulwark {

/// A `health_probe` that GETs `path` on the endpoint through an `http_transport`.
///
/// **Failure semantics:** healthy only on a 2xx; a failing status, a connection error, a timeout
/// or a stop is unhealthy. Never throws. **Time and cancellation:** the checker's context
/// carries the deadline (now + `timeout`), which becomes the socket timeout; run the checker on
/// the real clock (its deadline is a steady-clock time). **Thread safety:** as the transport
/// (thread-safe). **Allocation:** none per probe on a warm connection.
template <class Transport = http_transport<>>
struct http_health_probe {
    Transport* http;              ///< the transport (outlives the probe)
    std::string path = "/health"; ///< the path to GET
    bool operator()(const endpoint& e, context& ctx) const noexcept {
        auto r = http->send(e.address(), {.method = http_method::get, .target = path}, ctx);
        return r.has_value() && r->status >= 200 && r->status < 300;
    }
};

template <class T>
http_health_probe(T*, std::string) -> http_health_probe<T>;
template <class T>
http_health_probe(T*) -> http_health_probe<T>;

} // namespace bulwark
