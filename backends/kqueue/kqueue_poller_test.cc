// What only the kqueue backend does, over the kqueue double (the shared contract is checked by
// //test:poller_conformance_test).
#include "backends/kqueue/kqueue_poller.h"

#include "doctest/doctest.h"
