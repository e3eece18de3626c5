// B3's clients (docs/benchmarks.md): the wrk and h2load command lines http_bench runs, and the
// parsers of their output, which also check the run was entirely correct. Pure functions of
// the captured output (http_clients_test feeds them samples).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "test/child_process.h"

namespace netpoll::bench {

// Connections of either client, and h2load's requests in flight per connection.
inline constexpr int kConns = 50;
inline constexpr int kPipeline = 16;

// h2load -n (the same for every server of a benchmark, so the runs are comparable) is sized by
// a short pre-run of kH2SizingRequests to last about --seconds at the rate this machine reaches
// now, so a loaded machine still finishes in minutes: the requests that last `seconds` at
// `rate` req/s, a multiple of kConns * kPipeline (even connections), at least one such unit
// and at most 6,000,000.
inline constexpr std::uint64_t kH2SizingRequests = 80'000;
std::uint64_t h2load_requests_for(double rate, double seconds);

// wrk -t1 -c<kConns> -d<secs>s --timeout 10s --latency URL
std::vector<std::string> wrk_argv(const std::string& url, int secs);
// h2load --h1 -c<kConns> -m<kPipeline> [-t<threads>, when not 1] -n<n> URL
std::vector<std::string> h2load_argv(const std::string& url, std::uint64_t n, int threads = 1);

// "368.00us", "1.23ms", "2.00s", "1.5m" -> microseconds; -1 if unparsable.
double duration_us(const std::string& s);

struct WrkResult {
  double rps = -1, p50_us = -1, p99_us = -1;
  std::uint64_t requests = 0;
};
// Parses a finished wrk --latency run; an error text when the run was not entirely correct
// (a bad exit, non-2xx/3xx responses, socket errors, output not understood).
std::string parse_wrk(const netpoll::testing::Captured& run, WrkResult* w);

struct H2Result {
  double rps = -1;
};
// Parses a finished h2load run of `n` requests; an error text unless all `n` succeeded with a
// 2xx and nothing failed, errored or timed out.
std::string parse_h2load(const netpoll::testing::Captured& run, std::uint64_t n, H2Result* h);

}  // namespace netpoll::bench
