// ember::distributed: collectives over MPI and DistributedDataParallel.
#pragma once

#include "distributed/collectives.hpp"
#include "distributed/ddp.hpp"
