// Copyright (c) openvss authors. SPDX-License-Identifier: Apache-2.0

#include "vss/mocks/fault.hpp"

#include <array>
#include <cstdio>
#include <utility>

namespace vss::mocks {
namespace {

// The five writer codes a plan author writes most often get short names. fault_plan.cpp parses
// the same names; the round-trip tests keep the two tables in step.
constexpr std::array<std::pair<errc, std::string_view>, 5> k_short_codes{{
    {errc::writer_error_retryable, "retryable"},
    {errc::writer_error_nonretryable, "nonretryable"},
    {errc::writer_error_inconsistent_snapshot, "inconsistent_snapshot"},
    {errc::writer_error_out_of_resources, "out_of_resources"},
    {errc::writer_error_timeout, "timeout"},
}};

constexpr std::array<std::string_view, writer_event_count> k_event_names{
    "identify",      "prepare_backup", "prepare_snapshot", "freeze",          "thaw",
    "post_snapshot", "abort",          "backup_complete",  "backup_shutdown",
};

std::string code_text(errc code) {
  for (const auto& [c, name] : k_short_codes) {
    if (c == code) return std::string(name);
  }
  if (std::string_view s = symbol(code); !s.empty()) return std::string(s);
  // Not a known errc: the hex HRESULT at least tells the reader which value it was.
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%08X", static_cast<unsigned>(hresult(code)));
  return buf.data();
}

std::string duration_text(std::chrono::nanoseconds d) {
  using namespace std::chrono_literals;
  constexpr std::array<std::pair<std::chrono::nanoseconds, std::string_view>, 5> units{{
      {std::chrono::nanoseconds(1min), "m"},
      {std::chrono::nanoseconds(1s), "s"},
      {std::chrono::nanoseconds(1ms), "ms"},
      {std::chrono::nanoseconds(1us), "us"},
      {1ns, "ns"},
  }};
  if (d.count() == 0) return "0s";
  for (const auto& [unit, name] : units) {
    if (d.count() % unit.count() == 0) {
      return std::to_string(d.count() / unit.count()) + std::string(name);
    }
  }
  return std::to_string(d.count()) + "ns";  // unreachable: 1ns divides everything
}

}  // namespace

std::string_view to_string(fault_kind k) noexcept {
  switch (k) {
    case fault_kind::succeed:
      return "succeed";
    case fault_kind::veto:
      return "veto";
    case fault_kind::fail_without_code:
      return "fail";
    case fault_kind::hang:
      return "hang";
    case fault_kind::hang_ignore_abort:
      return "hang_ignore_abort";
    case fault_kind::delay:
      return "delay";
    case fault_kind::complete_twice:
      return "complete_twice";
    case fault_kind::throw_exception:
      return "throw";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, fault_kind k) { return os << to_string(k); }

std::string to_string(const fault& f) {
  switch (f.kind) {
    case fault_kind::veto:
      return "veto(" + code_text(f.code) + ")";
    case fault_kind::delay:
      return "delay(" + duration_text(f.after) + ")";
    default:
      return std::string(to_string(f.kind));
  }
}

std::ostream& operator<<(std::ostream& os, const fault& f) { return os << to_string(f); }

std::string_view to_string(provider_call c) noexcept {
  switch (c) {
    case provider_call::begin_prepare:
      return "begin_prepare";
    case provider_call::end_prepare:
      return "end_prepare";
    case provider_call::pre_commit:
      return "pre_commit";
    case provider_call::commit:
      return "commit";
    case provider_call::post_commit:
      return "post_commit";
    case provider_call::pre_final_commit:
      return "pre_final_commit";
    case provider_call::post_final_commit:
      return "post_final_commit";
    case provider_call::abort:
      return "abort";
    case provider_call::delete_snapshot:
      return "delete";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, provider_call c) { return os << to_string(c); }

std::optional<provider_call> provider_call_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < provider_call_count; ++i) {
    const auto c = static_cast<provider_call>(i);
    if (to_string(c) == name) return c;
  }
  return std::nullopt;
}

std::optional<writer_event> writer_event_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < writer_event_count; ++i) {
    const auto e = static_cast<writer_event>(i);
    if (k_event_names[i] == name || vss::to_string(e) == name) return e;
  }
  return std::nullopt;
}

}  // namespace vss::mocks
