// B3's protocol check (docs/benchmarks.md): a raw-socket probe of an HTTP server under test.
#pragma once

#include <string>

namespace netpoll::bench {

// Talks to the server on 127.0.0.1:`port` over plain blocking sockets (10 s timeouts): one
// request, 100 pipelined, Connection: close, HTTP/1.0, a malformed request followed by more
// input. Returns the transcript of everything it answered with every Date value masked, or sets
// `*error` ("probe: ..."). What a correct server sends is checked here; that the three servers
// send the same is checked by comparing their transcripts.
std::string probe(int port, std::string* error);

// Empty when transcripts `a` and `b` are equal, else where they first differ and the next 40
// bytes of each: `at byte N: "..." vs "..."`.
std::string transcript_difference(const std::string& a, const std::string& b);

}  // namespace netpoll::bench
