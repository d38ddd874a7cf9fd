#pragma once
/// \file
/// `file_discovery`: a static JSON file of endpoints, reloaded when it changes — discovery for
/// users without NATS (or a config-management tool that writes the file).
///
/// ```json
/// {"endpoints": [{"address": "10.0.0.1:8080", "weight": 2, "zone": "eu-1",
///                 "metadata": {"version": "1.4"}},
///                {"address": "10.0.0.2:8080"}]}
/// ```
/// (a bare array of endpoints works too). Needs nlohmann-json (`bulwark::json`).

#include <bulwark/core/endpoint_info.hpp>
#include <bulwark/core/error.hpp>
#include <bulwark/core/time.hpp>
#include <bulwark/detail/validate.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark {

/// Settings of a `file_discovery`.
struct file_discovery_options {
    /// How often the file's modification time and size are checked (0 = never: call
    /// `reload_now()` yourself).
    duration poll_interval = std::chrono::seconds{1};
};

/// Parses the endpoint list of a discovery file; throws `invalid_argument_error` naming the
/// problem (not JSON, no address, a weight of 0, a duplicate address...).
inline std::vector<endpoint_info> parse_endpoint_list(std::string_view text) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw invalid_argument_error(std::string("bulwark::file_discovery: not JSON: ") + e.what());
    }
    const nlohmann::json& list = j.is_object() && j.contains("endpoints") ? j.at("endpoints") : j;
    if (!list.is_array())
        throw invalid_argument_error(
            "bulwark::file_discovery: expected an array of endpoints or {\"endpoints\": [...]}");
    std::vector<endpoint_info> out;
    std::set<std::string> seen;
    for (const auto& x : list) {
        endpoint_info e;
        try {
            e.address = x.at("address").get<std::string>();
            const auto w = x.value("weight", std::int64_t{1});
            detail::require(w >= 1 && w <= 0xffffffffLL, "file_discovery", "weight",
                            "in [1, 2^32-1]", w);
            e.weight = static_cast<std::uint32_t>(w);
            e.zone = x.value("zone", std::string{});
            if (x.contains("metadata"))
                e.metadata = x.at("metadata").get<std::map<std::string, std::string>>();
        } catch (const invalid_argument_error&) {
            throw;
        } catch (const std::exception& ex) {
            throw invalid_argument_error(std::string("bulwark::file_discovery: bad endpoint: ") +
                                         ex.what());
        }
        detail::require(!e.address.empty(), "file_discovery", "address", "non-empty", e.address);
        detail::require(seen.insert(e.address).second, "file_discovery", "address", "unique",
                        e.address);
        out.push_back(std::move(e));
    }
    return out;
}

/// A `discovery_source` over a JSON file, reloaded when its modification time or size changes.
///
/// **Failure semantics:** a file that is missing or malformed never reaches the registry: the
/// last good list stays, and `last_error()` says what is wrong (the constructor throws when the
/// first read fails, so a wrong path is caught at start-up). **Thread safety:** `subscribe`,
/// `reload_now`, `current` and `last_error` are thread-safe; callbacks run one at a time, on
/// the poll thread or the caller of `reload_now`. Destroy the source before the registry.
class file_discovery {
public:
    explicit file_discovery(std::filesystem::path file, file_discovery_options o = {})
        : path_(std::move(file))
        , opts_(o) {
        detail::require(opts_.poll_interval >= duration::zero(), "file_discovery", "poll_interval",
                        ">= 0", opts_.poll_interval);
        if (!reload_now())
            throw invalid_argument_error(last_error());
        if (opts_.poll_interval > duration::zero())
            thread_ = std::thread([this] { poll(); });
    }
    file_discovery(const file_discovery&) = delete;
    file_discovery& operator=(const file_discovery&) = delete;
    ~file_discovery() {
        {
            std::lock_guard lock(wait_mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable())
            thread_.join();
    }

    /// Registers the subscriber and calls it at once with the current list.
    void subscribe(std::function<void(std::span<const endpoint_info>)> cb) {
        std::lock_guard lock(mutex_);
        subscriber_ = std::move(cb);
        if (subscriber_)
            subscriber_(list_);
    }

    /// Reads the file now; publishes the list if it changed. False (and `last_error`) when the
    /// file is missing or malformed; the last good list stays.
    bool reload_now() {
        std::lock_guard lock(mutex_);
        std::error_code ec;
        const auto stamp = std::filesystem::last_write_time(path_, ec);
        const auto size = ec ? 0 : std::filesystem::file_size(path_, ec);
        if (ec) {
            error_ =
                "bulwark::file_discovery: cannot read '" + path_.string() + "': " + ec.message();
            return false;
        }
        std::ifstream in(path_);
        std::stringstream text;
        text << in.rdbuf();
        try {
            auto list = parse_endpoint_list(text.str());
            stamp_ = stamp;
            size_ = size;
            error_.clear();
            if (list != list_) {
                list_ = std::move(list);
                if (subscriber_)
                    subscriber_(list_);
            }
            return true;
        } catch (const std::exception& e) {
            stamp_ = stamp; // do not re-parse the same bad file every poll
            size_ = size;
            error_ = std::string(e.what()) + " (in '" + path_.string() + "')";
            return false;
        }
    }

    /// The list in force.
    std::vector<endpoint_info> current() const {
        std::lock_guard lock(mutex_);
        return list_;
    }
    /// What was wrong with the last read ("" when it was fine).
    std::string last_error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }

private:
    void poll() {
        std::unique_lock wait(wait_mutex_);
        while (!cv_.wait_for(wait, opts_.poll_interval, [&] { return stopping_; })) {
            std::error_code ec;
            const auto stamp = std::filesystem::last_write_time(path_, ec);
            const auto size = ec ? 0 : std::filesystem::file_size(path_, ec);
            bool changed;
            {
                std::lock_guard lock(mutex_);
                changed = !ec && (stamp != stamp_ || size != size_);
            }
            if (changed) {
                try {
                    (void)reload_now();
                } catch (...) {
                    // a subscriber that threw: the next change tries again
                }
            }
        }
    }

    std::filesystem::path path_;
    file_discovery_options opts_;
    mutable std::mutex mutex_;
    std::vector<endpoint_info> list_;
    std::string error_;
    std::filesystem::file_time_type stamp_{};
    std::uintmax_t size_ = 0;
    std::function<void(std::span<const endpoint_info>)> subscriber_;
    std::mutex wait_mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace bulwark
