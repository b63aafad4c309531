#include "cli/commands.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <numeric>

#include "cli/exit_codes.hpp"

namespace vss::cli {

using json = nlohmann::json;

json backup_args(const backup_options& o) {
  json args = {{"volumes", o.volumes}};
  if (!o.writers.empty()) args["writers"] = o.writers;
  if (!o.components.empty()) args["components"] = o.components;
  if (o.provider) args["provider"] = *o.provider;
  if (o.persistent) args["persistent"] = true;
  if (o.inject) args["inject"] = *o.inject;
  if (o.abort_after) args["abort_after"] = *o.abort_after;
  return args;
}

int run_op(requester_channel& channel, const std::string& op, const json& args,
           const output_style& style) {
  const json final_frame = channel.call(op, args, {});
  return print_outcome(op, final_frame, style, std::cout, std::cerr);
}

int run_backup(requester_channel& channel, const backup_options& o, const output_style& style) {
  progress_printer progress(style, std::cout, std::cerr);
  json final_frame;
  try {
    final_frame = channel.call("backup", backup_args(o), std::ref(progress));
  } catch (...) {
    progress.close();
    throw;
  }
  progress.close();
  if (!style.json) std::cout << '\n';
  return print_outcome("backup", final_frame, style, std::cout, std::cerr);
}

namespace {

// Nearest-rank percentile of sorted samples.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

json stats(std::vector<std::int64_t> samples) {
  if (samples.empty()) return json::object();
  std::sort(samples.begin(), samples.end());
  const auto sum = std::accumulate(samples.begin(), samples.end(), std::int64_t{0});
  return {{"n", samples.size()},
          {"min", samples.front()},
          {"p50", percentile(samples, 0.50)},
          {"p99", percentile(samples, 0.99)},
          {"max", samples.back()},
          {"mean", sum / static_cast<std::int64_t>(samples.size())}};
}

}  // namespace

int run_bench_abort(requester_channel& channel, const bench_options& o, const output_style& style) {
  const std::string op = "bench-abort";
  std::vector<std::int64_t> abort_us;
  std::vector<std::int64_t> cancel_us;
  std::size_t writers = 0;
  json args = {{"volumes", o.volumes}, {"abort_after", o.phase}};
  for (std::size_t i = 0; i < o.count; ++i) {
    if (style.live && !style.json) {
      std::cout << "\r\033[K  backup " << (i + 1) << " of " << o.count << ", aborted at " << o.phase
                << std::flush;
    }
    const json final_frame = channel.call("backup", args, {});
    const std::string type = final_frame.value("type", "");
    const bool cancelled =
        type == "error" && final_frame.value("hresult", "") == "VSS_S_ASYNC_CANCELLED";
    if (!cancelled) {
      if (style.live && !style.json) std::cout << '\n';
      if (type == "error") return print_outcome(op, final_frame, style, std::cout, std::cerr);
      return print_failure(
          op,
          cli_error(exit_code::vss_error, "backup " + std::to_string(i + 1) +
                                              " finished before its abort at " + o.phase +
                                              " fired (are any writers registered?)"),
          style, std::cout, std::cerr);
    }
    const auto& result = final_frame["result"];
    const auto& a = result["abort"];
    abort_us.push_back(a.value("duration_us", std::int64_t{0}));
    if (a.contains("cancel_us")) cancel_us.push_back(a.value("cancel_us", std::int64_t{0}));
    writers = result.value("writers", json::array()).size();
  }
  if (style.live && !style.json) std::cout << "\r\033[K";
  json result = {{"phase", o.phase},
                 {"count", o.count},
                 {"aborted", abort_us.size()},
                 {"writers", writers},
                 {"volumes", o.volumes},
                 {"target", channel.describe()},
                 {"abort_us", stats(abort_us)},
                 {"cancel_us", stats(cancel_us)},
                 {"samples_us", abort_us}};
  return print_local_result(op, result, style, std::cout);
}

}  // namespace vss::cli
