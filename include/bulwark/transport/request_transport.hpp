#pragma once
/// \file
/// The request seam: what a transport under a resilient call (`pipeline` + `balance`) must do.
///
/// A request transport sends one request to the endpoint `balance` chose into the context
/// (`ctx.endpoint()`), honours the context's deadline (it becomes the I/O timeout) and its stop
/// token (it cancels the I/O), and returns an outcome: a response, or a classified failure
/// (`errc::timeout`, `errc::cancelled`, `errc::transport_error`, ...). It never throws from a
/// noexcept path and never hangs past the deadline. It opts in with
/// `using transport_concept = bulwark::request_transport_tag;`.

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>

#include <concepts>
#include <type_traits>

namespace bulwark {

/// The opt-in tag of request transports.
struct request_transport_tag {};

/// A request transport for requests of type `Req`: `t.send(req, ctx)` → `outcome<response_type>`.
template <class T, class Req>
concept request_transport = requires {
    typename T::transport_concept;
    typename T::response_type;
}
&&std::derived_from<typename T::transport_concept, request_transport_tag>&& requires(T& t,
                                                                                     const Req& req,
                                                                                     context& ctx) {
    { t.send(req, ctx) } -> std::same_as<outcome<typename T::response_type>>;
};

} // namespace bulwark
