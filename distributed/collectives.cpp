#include "distributed/collectives.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>

#include "runtime/dispatch.hpp"
#include "runtime/ops.hpp"

#ifndef EMBER_HAVE_MPI
#define EMBER_HAVE_MPI 0
#endif
#if EMBER_HAVE_MPI
#include <mpi.h>
#endif

namespace ember::distributed {
namespace {

bool g_initialized = false;
int g_rank = 0, g_size = 1;

void check_initialized(const char* what) {
  EMBER_CHECK(g_initialized, Error, "distributed::", what,
              ": call distributed::init(&argc, &argv) first");
}

void check_dtype(const char* what, const Tensor& t) {
  EMBER_CHECK(t.defined(), ValueError, "distributed::", what, ": the tensor is undefined");
  DType d = t.dtype();
  EMBER_CHECK(d == kFloat32 || d == kFloat64 || d == kInt64, DTypeError, "distributed::", what,
              ": expected a float32, float64 or int64 tensor, got ", dtype_name(d));
}

#if EMBER_HAVE_MPI
// Writes a reduced contiguous copy back into a non-contiguous target.
void write_back(const Tensor& t, const Tensor& buffer) {
  if (buffer.impl() == t.impl()) {
    t.bump_version();  // written through its data pointer
    return;
  }
  NoGradGuard no_grad;
  t.copy_(buffer);
}

// The tensor a collective works on in place: t itself when contiguous, else a contiguous copy.
Tensor contiguous_buffer(const Tensor& t) {
  NoGradGuard no_grad;
  return t.is_contiguous() ? t : t.contiguous();
}

MPI_Comm g_comm = MPI_COMM_NULL;
bool g_owns_mpi = false;
std::recursive_mutex g_mpi_mu;  // MPI_THREAD_SERIALIZED: one MPI call at a time
std::terminate_handler g_previous_terminate = nullptr;

// "distributed::all_reduce failed on rank 1 of 2: MPI_ERR_ROOT: invalid root"
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) std::snprintf(msg, sizeof msg, "code %d", rc);
  throw Error(::ember::detail::cat("distributed::", what, " failed on rank ", g_rank, " of ",
                                   g_size, ": ", std::string(msg, static_cast<size_t>(len))));
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case kFloat32:
      return MPI_FLOAT;
    case kFloat64:
      return MPI_DOUBLE;
    case kInt64:
      return MPI_INT64_T;
    default:
      break;
  }
  EMBER_ASSERT(false, "no MPI type for ", dtype_name(d));
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean:
      return MPI_SUM;
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::min:
      return MPI_MIN;
  }
  return MPI_SUM;
}

// MPI counts are ints: larger buffers go in chunks of at most this many elements.
constexpr int64_t kMaxCount = INT_MAX / 2;

// An uncaught exception on one rank must end the job, not leave the others in a collective.
[[noreturn]] void abort_job() {
  std::string what = "terminate called without an active exception";
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
      what = "unknown exception";
    }
  }
  std::fprintf(stderr, "ember rank %d of %d: %s\nember rank %d: calling MPI_Abort\n", g_rank,
               g_size, what.c_str(), g_rank);
  std::fflush(stderr);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}
#endif

}  // namespace

bool is_available() { return EMBER_HAVE_MPI != 0; }
bool is_initialized() { return g_initialized; }

int rank() {
  check_initialized("rank");
  return g_rank;
}

int world_size() {
  check_initialized("world_size");
  return g_size;
}

#if EMBER_HAVE_MPI

void init(int* argc, char*** argv) {
  std::lock_guard lk(g_mpi_mu);
  if (g_initialized) return;
  int already = 0, provided = 0;
  MPI_Initialized(&already);
  if (already) {
    check_mpi(MPI_Query_thread(&provided), "init");
  } else {
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "init");
    g_owns_mpi = true;
  }
  EMBER_CHECK(provided >= MPI_THREAD_SERIALIZED, Error,
              "distributed::init: MPI provides thread level ", provided,
              " but ember needs MPI_THREAD_SERIALIZED (", MPI_THREAD_SERIALIZED,
              "): it calls MPI from whichever thread runs backward");
  // Errors come back as codes (then ember::Error), on ember's own communicator so its traffic
  // never matches a message of the program's.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &g_comm), "init");
  MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(g_comm, &g_rank), "init");
  check_mpi(MPI_Comm_size(g_comm, &g_size), "init");
  g_previous_terminate = std::set_terminate(abort_job);
  g_initialized = true;
}

void finalize() {
  std::lock_guard lk(g_mpi_mu);
  if (!g_initialized) return;
  MPI_Comm_free(&g_comm);
  g_comm = MPI_COMM_NULL;
  g_initialized = false;
  std::set_terminate(g_previous_terminate);
  if (g_owns_mpi) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    g_owns_mpi = false;
  }
  g_rank = 0;
  g_size = 1;
}

void all_reduce(const Tensor& t, ReduceOp op) {
  check_initialized("all_reduce");
  check_dtype("all_reduce", t);
  EMBER_CHECK(op != ReduceOp::mean || t.is_floating_point(), DTypeError,
              "distributed::all_reduce: ReduceOp::mean needs a floating tensor, got ",
              dtype_name(t.dtype()), " (reduce with sum and divide)");
  Tensor buf = contiguous_buffer(t);
  char* p = static_cast<char*>(buf.raw_data());
  const size_t esize = element_size(buf.dtype());
  {
    std::lock_guard lk(g_mpi_mu);
    for (int64_t done = 0; done < buf.numel(); done += kMaxCount) {
      int n = static_cast<int>(std::min(kMaxCount, buf.numel() - done));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, p + static_cast<size_t>(done) * esize, n,
                              mpi_type(buf.dtype()), mpi_op(op), g_comm),
                "all_reduce");
    }
  }
  if (op == ReduceOp::mean) {
    NoGradGuard no_grad;
    buf.div_(static_cast<double>(g_size));
    if (buf.impl() == t.impl()) return;  // div_ bumped the version
  }
  write_back(t, buf);
}

void broadcast(const Tensor& t, int root) {
  check_initialized("broadcast");
  check_dtype("broadcast", t);
  // The root is checked by MPI (MPI_ERR_ROOT), and its message reaches the user.
  Tensor buf = contiguous_buffer(t);
  char* p = static_cast<char*>(buf.raw_data());
  const size_t esize = element_size(buf.dtype());
  {
    std::lock_guard lk(g_mpi_mu);
    for (int64_t done = 0; done < buf.numel(); done += kMaxCount) {
      int n = static_cast<int>(std::min(kMaxCount, buf.numel() - done));
      check_mpi(
          MPI_Bcast(p + static_cast<size_t>(done) * esize, n, mpi_type(buf.dtype()), root, g_comm),
          "broadcast");
    }
  }
  write_back(t, buf);
}

std::vector<Tensor> all_gather(const Tensor& t) {
  check_initialized("all_gather");
  check_dtype("all_gather", t);
  Tensor buf = contiguous_buffer(t);
  Dims sizes = t.sizes();
  sizes.insert(0, g_size);
  Tensor out = empty(sizes, t.dtype());
  EMBER_CHECK(buf.numel() <= INT_MAX, ValueError, "distributed::all_gather: ", buf.numel(),
              " elements per rank; at most ", INT_MAX, " are supported");
  {
    std::lock_guard lk(g_mpi_mu);
    int n = static_cast<int>(buf.numel());
    check_mpi(MPI_Allgather(buf.raw_data(), n, mpi_type(buf.dtype()), out.raw_data(), n,
                            mpi_type(buf.dtype()), g_comm),
              "all_gather");
  }
  std::vector<Tensor> parts;
  for (int r = 0; r < g_size; ++r) parts.push_back(out.select(0, r));
  return parts;
}

void barrier() {
  check_initialized("barrier");
  std::lock_guard lk(g_mpi_mu);
  check_mpi(MPI_Barrier(g_comm), "barrier");
}

namespace detail {

static_assert(sizeof(MPI_Request) <= 8, "MPI_Request must fit PendingReduce's storage");

PendingReduce::PendingReduce(const Tensor& t, const char* what) : buffer_(t), what_(what) {
  check_initialized(what);
  check_dtype(what, t);
  EMBER_ASSERT(t.is_contiguous(), "PendingReduce needs a contiguous buffer");
  EMBER_CHECK(t.numel() <= INT_MAX, ValueError, "distributed::", what, ": a bucket of ", t.numel(),
              " elements; at most ", INT_MAX, " are supported");
  MPI_Request req = MPI_REQUEST_NULL;
  {
    std::lock_guard lk(g_mpi_mu);
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()),
                             mpi_type(t.dtype()), MPI_SUM, g_comm, &req),
              what);
  }
  std::memcpy(request_, &req, sizeof req);
  active_ = true;
}

PendingReduce::PendingReduce(PendingReduce&& o) noexcept
    : buffer_(std::move(o.buffer_)), what_(o.what_), active_(o.active_) {
  std::memcpy(request_, o.request_, sizeof request_);
  o.active_ = false;
}

PendingReduce& PendingReduce::operator=(PendingReduce&& o) noexcept {
  if (this == &o) return *this;
  if (active_) {
    try {
      wait();
    } catch (...) {
    }
  }
  buffer_ = std::move(o.buffer_);
  what_ = o.what_;
  active_ = o.active_;
  std::memcpy(request_, o.request_, sizeof request_);
  o.active_ = false;
  return *this;
}

PendingReduce::~PendingReduce() {
  if (!active_) return;
  try {
    wait();  // MPI still writes into the buffer: never free it under a running request
  } catch (...) {
  }
}

bool PendingReduce::test() {
  if (!active_) return true;
  MPI_Request req;
  std::memcpy(&req, request_, sizeof req);
  int done = 0;
  {
    std::lock_guard lk(g_mpi_mu);
    check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what_);
  }
  std::memcpy(request_, &req, sizeof req);
  if (done) active_ = false;
  return done != 0;
}

void PendingReduce::wait() {
  if (!active_) return;
  MPI_Request req;
  std::memcpy(&req, request_, sizeof req);
  active_ = false;
  std::lock_guard lk(g_mpi_mu);
  check_mpi(MPI_Wait(&req, MPI_STATUS_IGNORE), what_);
}

}  // namespace detail

#else  // one process: the world is this process

void init(int*, char***) {
  if (g_initialized) return;
  // mpirun sets these; a build without MPI would silently train N separate copies.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(var);
    EMBER_CHECK(!v || std::atoi(v) <= 1, Error, "distributed::init: this process runs under ",
                "mpirun (", var, "=", v, ") but ember was built without MPI ",
                "(EMBER_WITH_MPI=OFF or libopenmpi-dev not found): rebuild ember with MPI");
  }
  g_initialized = true;
}

void finalize() { g_initialized = false; }

void all_reduce(const Tensor& t, ReduceOp op) {
  check_initialized("all_reduce");
  check_dtype("all_reduce", t);
  EMBER_CHECK(op != ReduceOp::mean || t.is_floating_point(), DTypeError,
              "distributed::all_reduce: ReduceOp::mean needs a floating tensor, got ",
              dtype_name(t.dtype()), " (reduce with sum and divide)");
}

void broadcast(const Tensor& t, int root) {
  check_initialized("broadcast");
  check_dtype("broadcast", t);
  EMBER_CHECK(root == 0, ValueError, "distributed::broadcast: root ", root,
              " is not a rank of a world of 1 process");
}

std::vector<Tensor> all_gather(const Tensor& t) {
  check_initialized("all_gather");
  check_dtype("all_gather", t);
  return {t.clone()};
}

void barrier() { check_initialized("barrier"); }

namespace detail {
PendingReduce::PendingReduce(const Tensor& t, const char* what) : buffer_(t), what_(what) {
  check_initialized(what);
  check_dtype(what, t);
}
PendingReduce::PendingReduce(PendingReduce&& o) noexcept = default;
PendingReduce& PendingReduce::operator=(PendingReduce&& o) noexcept = default;
PendingReduce::~PendingReduce() = default;
bool PendingReduce::test() { return true; }
void PendingReduce::wait() {}
}  // namespace detail

#endif

}  // namespace ember::distributed
