//! The `kdns` binary: everything is in the library ([`kdns::cli::main`]).
use std::process::ExitCode;

/// mimalloc: the zone store and the initial list allocate and free millions of small objects;
/// glibc's malloc spent ~17 % of start-up CPU in its own bookkeeping (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` of mimalloc v3's `mimalloc.h` (libmimalloc-sys 0.1.49 builds
/// v3 but its Rust constants follow v2's numbering).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Commit arena memory as it is used, not up front: RSS then tracks the live heap (the eager
/// default adds ~17 MB at 10k services) at no measured speed cost. It must be set before the
/// first allocation creates the first arena, so it runs as an ELF constructor, before `main`.
extern "C" fn lazy_commit() {
    // SAFETY: sets a global allocator option; no pointers involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) }
}

#[used]
#[link_section = ".init_array"]
static LAZY_COMMIT: extern "C" fn() = lazy_commit;

fn main() -> ExitCode {
    kdns::cli::main()
}
