#pragma once
/// \file
/// Projections: the read side of CQRS. A projection follows every stream of a store in position
/// order from its checkpoint and hands each event of the types it cares about to
/// `on(const E&, const recorded_event&)`.
///
/// ```cpp
/// struct revenue : bulwark::projection<revenue, my_codec, order_paid, order_refunded> {
///     double total = 0;
///     void on(const order_paid& e, const bulwark::recorded_event&) { total += e.amount; }
///     void on(const order_refunded& e, const bulwark::recorded_event&) { total -= e.amount; }
/// };
/// revenue r;
/// r.catch_up(store);    // applies what is new since its checkpoint
/// ```
/// Delivery: at least once across restarts unless the read model and the checkpoint are saved
/// together (then effectively once: Marten's and EventStoreDB's advice). Keep `checkpoint()` with
/// the model and give it back with `resume_from`.

#include <bulwark/detail/validate.hpp>
#include <bulwark/eventsource/event_store.hpp>
#include <bulwark/eventsource/typed_event.hpp>

#include <cstdint>

namespace bulwark {

namespace detail {
template <class D, class E>
concept projects_event = requires(D& d, const E& e, const recorded_event& r) {
    d.on(e, r);
};
} // namespace detail

/// The base of a projection `Derived` over `Events...` (others are skipped).
///
/// **Failure semantics:** a store failure stops `catch_up` and is returned; the checkpoint stays
/// at the last event handled. An event of a listed type that fails to decode stops it too (the
/// read model would be wrong without it). An exception from `on` propagates, checkpoint before it.
/// **Thread safety:** one thread at a time.
template <class Derived, class Codec, class... Events>
class projection {
public:
    /// Position of the last event handled or skipped (0: from the start).
    std::uint64_t checkpoint() const noexcept { return checkpoint_; }
    /// Continues after `position` (a saved checkpoint).
    void resume_from(std::uint64_t position) noexcept { checkpoint_ = position; }

    /// Reads and applies everything after the checkpoint, `batch` events per read; returns how
    /// many events of this projection's types were applied.
    template <class Store>
    outcome<std::size_t> catch_up(Store& store, std::size_t batch = 256) {
        static_assert(event_store<Store>, "bulwark::projection::catch_up: not an event_store");
        detail::require(batch >= 1, "projection", "batch", ">= 1", batch);
        std::size_t applied = 0;
        for (;;) {
            auto events = store.read_all(checkpoint_, batch);
            if (!events)
                return events.error();
            for (const auto& rec : *events) {
                failure bad{errc::decode_error};
                auto r = detail::dispatch<Codec, Events...>(
                    codec_, rec, [&](const auto& e) { self().on(e, rec); }, &bad);
                if (r == detail::dispatch_result::decode_failed)
                    return bad;
                if (r == detail::dispatch_result::handled)
                    ++applied;
                checkpoint_ = rec.position;
            }
            if (events->size() < batch)
                return applied;
        }
    }

protected:
    projection() {
        detail::check_events<Events...>();
        static_assert((detail::projects_event<Derived, Events> && ...),
                      "bulwark::projection: the projection needs `void on(const E&, const "
                      "bulwark::recorded_event&)` for each of its event types");
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }
    std::uint64_t checkpoint_ = 0;
    [[no_unique_address]] Codec codec_{};
};

} // namespace bulwark
