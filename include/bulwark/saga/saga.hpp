#pragma once
/// \file
/// Orchestrated sagas: `saga{step{action, compensation}, ...}` runs its steps in order, each
/// through its own pipeline of policies; when a step fails, the completed steps are compensated
/// in reverse order; a compensation that keeps failing parks the saga for an operator. Progress
/// goes to a `saga_store` after every step and to a listener, so a process that crashed resumes
/// each unfinished saga from its last recorded step (`resume_all`).
///
/// ```cpp
/// auto order_saga = bulwark::saga{
///     bulwark::saga_options{.name = "order", .timeout = 30s},
///     bulwark::step{"reserve", reserve_stock, release_stock},
///     bulwark::step{"charge", charge_card, refund_card,
///                   bulwark::pipeline{bulwark::retry{.max_attempts = 3}},
///                   bulwark::pipeline{bulwark::retry{.max_attempts = 10}}},
///     bulwark::step{"ship", ship_order},
/// };
/// bulwark::sqlite_saga_store store{"/var/lib/orders/sagas.db"};
/// order_saga.resume_all(store);                          // after a restart
/// auto r = order_saga.run(store, "order-7", {{"sku", "A1"}}).value();
/// if (r.status == bulwark::saga_status::compensated) ...  // failed and undone
/// ```
/// Semantics follow MassTransit's routing slips: compensation runs last-in first-out and only for
/// steps that completed; a compensation that fails halts the compensation (earlier steps stay
/// done) and reports it (`parked`: listener event, `parked(store)` list, `retry_parked`). The
/// saga reports "compensated" only after the last compensation.

#include <bulwark/core/context.hpp>
#include <bulwark/core/outcome.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/enum_text.hpp>
#include <bulwark/detail/validate.hpp>
#include <bulwark/policy/timeout.hpp>
#include <bulwark/saga/saga_store.hpp>
#include <bulwark/saga/step.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace bulwark {

/// What happened in a saga (the listener's argument).
enum class saga_event_kind : std::uint8_t {
    started,          ///< a new saga was recorded
    resumed,          ///< an unfinished saga was picked up again (after a crash or by another run)
    step_completed,   ///< a step's action succeeded and was recorded
    step_failed,      ///< a step's action failed (after its pipeline gave up); compensation starts
    step_compensated, ///< a step's compensation succeeded and was recorded
    compensation_failed, ///< a compensation failed after its pipeline gave up
    parked,              ///< ... so the saga is parked for an operator (never dropped)
    completed,           ///< every step succeeded
    compensated,         ///< every completed step was compensated
    store_failed, ///< the store could not record progress: the saga stops here, to be resumed
};

/// The enumerator's name ("started", ...); "unknown" for a value outside the enum.
constexpr std::string_view to_string(saga_event_kind v) noexcept {
    switch (v) {
    case saga_event_kind::started:
        return "started";
    case saga_event_kind::resumed:
        return "resumed";
    case saga_event_kind::step_completed:
        return "step_completed";
    case saga_event_kind::step_failed:
        return "step_failed";
    case saga_event_kind::step_compensated:
        return "step_compensated";
    case saga_event_kind::compensation_failed:
        return "compensation_failed";
    case saga_event_kind::parked:
        return "parked";
    case saga_event_kind::completed:
        return "completed";
    case saga_event_kind::compensated:
        return "compensated";
    case saga_event_kind::store_failed:
        return "store_failed";
    }
    return "unknown";
}

/// One saga event. Views are valid during the listener call only.
struct saga_event {
    saga_event_kind kind;
    std::string_view saga_name;
    std::string_view saga_id;
    std::uint32_t step = 0;         ///< 1-based step index (0 for saga-wide events)
    std::string_view step_name;     ///< empty for saga-wide events
    const failure* error = nullptr; ///< for failures
};

/// Settings of a saga.
struct saga_options {
    /// The saga definition's name: stored with each record, so `resume_all` picks its own.
    std::string name = "saga";
    /// Limit on the whole saga from its start (zero: none). Past it, no further step starts and
    /// the completed ones are compensated (compensations are not limited by it).
    duration timeout{};
    /// The clock for timeouts (`.clock = manual` in tests). The deadline is stored as a time on
    /// this clock: with the steady clock it holds across restarts until the host reboots.
    any_clock clock{};
    /// Hears every `saga_event` (progress, failures, parked sagas). Called on the saga's thread.
    std::function<void(const saga_event&)> listener{};
};

/// What a run or resume ended with.
struct saga_result {
    std::string id;
    saga_status status = saga_status::running;
    std::uint32_t failed_step = 0; ///< 1-based; 0 when none failed
    std::string error;             ///< why it failed or parked (text)
    saga_data data;
    std::optional<failure> cause{}; ///< the failure itself, when it happened in this process
};

/// A saga definition: its steps, in order.
///
/// **Failure semantics:** `run` and `resume` return the saga's end (`completed`,
/// `compensated`, `parked`) as a value; they fail only when the store fails or another process
/// took the saga over (`concurrency_conflict`) — the saga then stays unfinished in the store for
/// `resume_all`. Exceptions from steps are failures of the step, never of `run`.
/// **Idempotency:** the guarantee is at least once per step: a step whose action ran but whose
/// record did not reach the store runs again on resume, with the same idempotency key.
/// **Thread safety:** one definition may run many sagas at once on many threads (the steps'
/// callables must then be thread-safe); one saga id must not run on two threads at once (the
/// store's revision check stops the second).
/// **Allocation:** a few per step (the record's strings); sagas are a cold path.
template <class... Steps>
class saga {
    static_assert(sizeof...(Steps) > 0, "bulwark::saga: give it at least one bulwark::step");
    static_assert((detail::is_step<Steps>::value && ...),
                  "bulwark::saga: every argument after the options must be a bulwark::step");

public:
    static constexpr std::uint32_t size = sizeof...(Steps);

    explicit saga(Steps... steps)
        : saga(saga_options{}, std::move(steps)...) {}
    saga(saga_options opts, Steps... steps)
        : opts_(std::move(opts))
        , steps_(std::move(steps)...) {
        detail::require(!opts_.name.empty(), "saga", "name", "not empty", opts_.name);
        detail::require(opts_.timeout >= duration::zero(), "saga", "timeout", ">= 0",
                        opts_.timeout);
        std::set<std::string> names;
        std::apply([&](auto&... s) { (names.insert(s.name()), ...); }, steps_);
        detail::require(names.size() == size, "saga", "step names", "unique within the saga",
                        opts_.name);
    }

    const saga_options& options() const noexcept { return opts_; }

    /// Starts saga `id` with `data`, or — when `id` is already in the store — resumes it
    /// (an idempotent start: a redelivered "start" message does not run the saga twice).
    template <class Store>
    outcome<saga_result> run(Store& store, std::string id, saga_data data = {}) {
        context ctx;
        return run(store, std::move(id), std::move(data), ctx);
    }
    template <class Store>
    outcome<saga_result> run(Store& store, std::string id, saga_data data, context& caller) {
        static_assert(saga_store<Store>, "bulwark::saga::run: Store is not a saga_store");
        detail::require(!id.empty(), "saga", "id", "not empty", id);
        auto existing = store.load(id);
        if (!existing)
            return existing.error();
        if (*existing)
            return continue_saga(store, std::move(**existing), caller, true);
        saga_record rec;
        rec.id = std::move(id);
        rec.name = opts_.name;
        rec.status = saga_status::running;
        rec.data = std::move(data);
        if (opts_.timeout > duration::zero())
            rec.deadline_ns =
                saturating_add(opts_.clock.now(), opts_.timeout).time_since_epoch().count();
        rec.revision = 1;
        if (auto s = store.save(rec); !s) {
            if (is_concurrency_conflict(s.error())) { // another process started it just now
                auto again = store.load(rec.id);
                if (again && *again)
                    return continue_saga(store, std::move(**again), caller, true);
            }
            return s.error();
        }
        emit(saga_event_kind::started, rec);
        return continue_saga(store, std::move(rec), caller, false);
    }

    /// Resumes saga `id` from its last recorded step (a finished or parked saga is returned as
    /// it is).
    template <class Store>
    outcome<saga_result> resume(Store& store, std::string_view id) {
        static_assert(saga_store<Store>, "bulwark::saga::resume: Store is not a saga_store");
        auto rec = store.load(id);
        if (!rec)
            return rec.error();
        if (!*rec)
            return failure{errc::invalid_argument,
                           std::make_exception_ptr(invalid_argument_error(
                               "bulwark::saga: no saga '" + std::string(id) + "' in the store"))};
        context ctx;
        return continue_saga(store, std::move(**rec), ctx, true);
    }

    /// Resumes every unfinished saga of this definition (status running or compensating);
    /// returns one result per saga, each saga once: both statuses are listed before any saga
    /// continues (a resumed saga that starts compensating is not met again in the second list),
    /// and a saga listed twice (a replicated store read between two saves) is resumed from its
    /// newest record only.
    template <class Store>
    std::vector<outcome<saga_result>> resume_all(Store& store) {
        static_assert(saga_store<Store>, "bulwark::saga::resume_all: Store is not a saga_store");
        std::vector<outcome<saga_result>> out;
        std::vector<saga_record> todo;
        for (auto st : {saga_status::running, saga_status::compensating}) {
            auto recs = store.list(st);
            if (!recs) {
                out.emplace_back(recs.error());
                continue;
            }
            for (auto& r : *recs) {
                if (r.name != opts_.name)
                    continue;
                auto same = std::find_if(todo.begin(), todo.end(),
                                         [&](const saga_record& t) { return t.id == r.id; });
                if (same == todo.end())
                    todo.push_back(std::move(r));
                else if (r.revision > same->revision)
                    *same = std::move(r);
            }
        }
        for (auto& r : todo) {
            context ctx;
            out.push_back(continue_saga(store, std::move(r), ctx, true));
        }
        return out;
    }

    /// The parked sagas of this definition: each waits for an operator.
    template <class Store>
    outcome<std::vector<saga_record>> parked(Store& store) {
        return of_mine(store.list(saga_status::parked));
    }

    /// Unfinished sagas of this definition whose deadline has passed (the "stuck" query: a saga
    /// whose process died and that nobody resumed).
    template <class Store>
    outcome<std::vector<saga_record>> overdue(Store& store) {
        std::vector<saga_record> out;
        const auto now = opts_.clock.now().time_since_epoch().count();
        for (auto st : {saga_status::running, saga_status::compensating}) {
            auto recs = of_mine(store.list(st));
            if (!recs)
                return recs.error();
            for (auto& r : *recs)
                if (r.deadline_ns != 0 && r.deadline_ns <= now)
                    out.push_back(std::move(r));
        }
        return out;
    }

    /// Tries the compensation of a parked saga again, from the step that failed (an operator
    /// fixed the cause).
    template <class Store>
    outcome<saga_result> retry_parked(Store& store, std::string_view id) {
        auto rec = store.load(id);
        if (!rec)
            return rec.error();
        if (!*rec || (*rec)->status != saga_status::parked)
            return failure{errc::invalid_argument,
                           std::make_exception_ptr(invalid_argument_error(
                               "bulwark::saga: '" + std::string(id) + "' is not parked"))};
        saga_record r = std::move(**rec);
        r.status = saga_status::compensating;
        ++r.revision;
        if (auto s = store.save(r); !s)
            return s.error();
        context ctx;
        return continue_saga(store, std::move(r), ctx, true);
    }

private:
    template <class Recs>
    static Recs of_mine(Recs recs, const std::string& name) {
        if (recs)
            std::erase_if(*recs, [&](const saga_record& r) { return r.name != name; });
        return recs;
    }
    template <class Recs>
    Recs of_mine(Recs recs) const {
        return of_mine(std::move(recs), opts_.name);
    }

    void emit(saga_event_kind k, const saga_record& r, std::uint32_t step = 0,
              std::string_view step_name = {}, const failure* f = nullptr) const {
        if (opts_.listener)
            opts_.listener(saga_event{k, opts_.name, r.id, step, step_name, f});
    }

    static std::string describe(const failure& f) {
        if (f.exception) {
            try {
                std::rethrow_exception(f.exception);
            } catch (const std::exception& e) {
                return e.what();
            } catch (...) {
                return "an exception not derived from std::exception";
            }
        }
        return f.error_code().message();
    }

    static saga_result result_of(saga_record& r, std::optional<failure> cause = std::nullopt) {
        return saga_result{r.id, r.status, r.failed_step, r.error, r.data, std::move(cause)};
    }

    /// Calls `f(step)` for the step at 0-based index `i`.
    template <class F>
    auto with_step(std::uint32_t i, F&& f) {
        using R = decltype(f(std::get<0>(steps_)));
        return with_step_impl<R>(i, f, std::index_sequence_for<Steps...>{});
    }
    template <class R, class F, std::size_t... I>
    R with_step_impl(std::uint32_t i, F& f, std::index_sequence<I...>) {
        std::optional<R> out;
        [[maybe_unused]] const bool found =
            ((i == I ? (out.emplace(f(std::get<I>(steps_))), true) : false) || ...);
        return std::move(*out);
    }

    /// Saves `r` with the next revision; on failure reports it and returns the failure.
    template <class Store>
    std::optional<failure> record(Store& store, saga_record& r) {
        ++r.revision;
        auto s = store.save(r);
        if (s)
            return std::nullopt;
        --r.revision;
        emit(saga_event_kind::store_failed, r, 0, {}, &s.error());
        return s.error();
    }

    template <class Store>
    outcome<saga_result> continue_saga(Store& store, saga_record r, context& caller, bool resumed) {
        if (r.name != opts_.name)
            return failure{errc::invalid_argument,
                           std::make_exception_ptr(
                               invalid_argument_error("bulwark::saga '" + opts_.name + "': saga '" +
                                                      r.id + "' belongs to '" + r.name + "'"))};
        if (!is_unfinished(r.status))
            return result_of(r);
        if (resumed)
            emit(saga_event_kind::resumed, r);
        std::optional<failure> cause;
        if (r.status == saga_status::running) {
            while (r.completed_steps < size) {
                const std::uint32_t i = r.completed_steps;
                auto done = run_step(r, i, caller);
                if (!done) {
                    cause = done.error();
                    r.status = saga_status::compensating;
                    r.failed_step = i + 1;
                    r.error = describe(done.error());
                    const std::string name = step_name(i);
                    emit(saga_event_kind::step_failed, r, i + 1, name, &done.error());
                    if (auto f = record(store, r))
                        return *f;
                    break;
                }
                ++r.completed_steps;
                if (r.completed_steps == size)
                    r.status = saga_status::completed;
                if (auto f = record(store, r))
                    return *f;
                emit(saga_event_kind::step_completed, r, i + 1, step_name(i));
            }
            if (r.status == saga_status::completed) {
                emit(saga_event_kind::completed, r);
                return result_of(r);
            }
        }
        // Compensating: undo steps completed_steps-1 ... 0.
        while (r.completed_steps > 0) {
            const std::uint32_t i = r.completed_steps - 1;
            auto undone = compensate_step(r, i);
            if (!undone) {
                const std::string name = step_name(i);
                emit(saga_event_kind::compensation_failed, r, i + 1, name, &undone.error());
                r.status = saga_status::parked;
                r.error = "compensation of step " + std::to_string(i + 1) + " '" + name +
                          "' failed: " + describe(undone.error()) +
                          (r.error.empty() ? "" : "; the saga failed because: " + r.error);
                if (auto f = record(store, r))
                    return *f;
                emit(saga_event_kind::parked, r, i + 1, name, &undone.error());
                return result_of(r, undone.error());
            }
            --r.completed_steps;
            if (r.completed_steps == 0)
                r.status = saga_status::compensated;
            if (auto f = record(store, r))
                return *f;
            emit(saga_event_kind::step_compensated, r, i + 1, step_name(i));
        }
        if (r.status != saga_status::compensated) { // the first step failed: nothing to undo
            r.status = saga_status::compensated;
            if (auto f = record(store, r))
                return *f;
        }
        emit(saga_event_kind::compensated, r);
        return result_of(r, std::move(cause));
    }

    std::string step_name(std::uint32_t i) {
        return with_step(i, [](auto& s) { return s.name(); });
    }

    outcome<void> run_step(saga_record& r, std::uint32_t i, context& caller) {
        context ctx(context::child, caller);
        if (r.deadline_ns != 0) {
            const time_point deadline{duration{r.deadline_ns}};
            if (opts_.clock.now() >= deadline)
                return errc::timeout; // the saga's time is up: this step does not start
            ctx.tighten_deadline(deadline);
        }
        return with_step(i, [&](auto& s) -> outcome<void> {
            saga_context sc(r.id, s.name(), i + 1, false, r.data, ctx);
            if (s.timeout() > duration::zero()) {
                bulwark::timeout limit{.total = s.timeout(), .clock = opts_.clock};
                return limit.execute([&](context& c) { return s.run_action(sc, c); }, ctx);
            }
            return s.run_action(sc, ctx);
        });
    }

    outcome<void> compensate_step(saga_record& r, std::uint32_t i) {
        context ctx; // not limited by the saga's deadline: an undo must run
        return with_step(i, [&](auto& s) -> outcome<void> {
            using S = std::remove_cvref_t<decltype(s)>;
            if constexpr (!S::compensates) {
                return outcome<void>::success();
            } else {
                saga_context sc(r.id, s.name(), i + 1, true, r.data, ctx);
                return s.run_compensation(sc, ctx);
            }
        });
    }

    saga_options opts_;
    std::tuple<Steps...> steps_;
};

template <class... Steps>
saga(Steps...) -> saga<Steps...>;
template <class... Steps>
saga(saga_options, Steps...) -> saga<Steps...>;

} // namespace bulwark
