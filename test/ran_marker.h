// Proof that a test program ran to its end, for runners that cannot tell otherwise: under wine
// a program that never started can still leave a zero exit status. tools/wine_run.sh names a
// file in NETPOLL_TEST_RAN_FILE and fails a zero exit that did not write it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace netpoll::testing {

// Returns rc, after writing it to $NETPOLL_TEST_RAN_FILE when that is set.
inline int report_ran(int rc) {
  if (const char* path = std::getenv("NETPOLL_TEST_RAN_FILE"); path && *path) {
    if (std::FILE* f = std::fopen(path, "w")) {
      std::fprintf(f, "%d\n", rc);
      std::fclose(f);
    }
  }
  return rc;
}

}  // namespace netpoll::testing
