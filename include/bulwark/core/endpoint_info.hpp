#pragma once
/// \file
/// Where a call goes: `endpoint_info` (address, weight, zone, metadata) and `endpoint_identity`,
/// the part of an endpoint that a `context` carries and a request transport reads. The balance
/// layer's `endpoint` adds live statistics on top; core does not know it.

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace bulwark {

/// What describes an endpoint: the value a discovery source pushes and a registry is built from.
struct endpoint_info {
    std::string address;                           ///< e.g. "10.0.0.7:8080"; unique in a registry
    std::uint32_t weight = 1;                      ///< relative share for weighted strategies (> 0)
    std::string zone{};                            ///< locality, for zone queries
    std::map<std::string, std::string> metadata{}; ///< free-form labels

    friend bool operator==(const endpoint_info&, const endpoint_info&) = default;
};

/// The description of the endpoint an attempt goes to, as `context::endpoint()` returns it.
/// `bulwark::endpoint` (balance) derives from it; a transport needs only this.
///
/// **Thread safety:** immutable after construction. Not copyable or movable: contexts refer to
/// it by address.
class endpoint_identity {
public:
    explicit endpoint_identity(endpoint_info info)
        : info_(std::move(info)) {}
    endpoint_identity(const endpoint_identity&) = delete;
    endpoint_identity& operator=(const endpoint_identity&) = delete;

    const endpoint_info& info() const noexcept { return info_; }
    const std::string& address() const noexcept { return info_.address; }
    std::uint32_t weight() const noexcept { return info_.weight; }
    const std::string& zone() const noexcept { return info_.zone; }
    const std::map<std::string, std::string>& metadata() const noexcept { return info_.metadata; }

protected:
    ~endpoint_identity() = default;

private:
    endpoint_info info_;
};

} // namespace bulwark
