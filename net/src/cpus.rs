//! Which CPUs this process may run on (its affinity mask, as `taskset`
//! sets it). The broker's shards and mqbench's load executors are pinned
//! to CPUs of this set, in order, so `taskset -c 0 mqbroker` and
//! `taskset -c 1 mqbench` keep the two apart; pinning executor `i` to CPU
//! `i` ignored the mask and put mqbench's first executor on the broker's
//! core.

/// The CPUs of the calling thread's affinity mask, ascending; every online
/// CPU when the mask cannot be read.
pub fn allowed() -> Vec<usize> {
    // SAFETY: `set` is a plain bit array the kernel fills; CPU_ISSET reads
    // it within its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw mut set) == 0 {
            let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect();
            if !cpus.is_empty() {
                return cpus;
            }
        }
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..n).collect()
}

/// The CPU the `i`-th pinned executor goes to: the mask's CPUs in turn.
pub fn nth(cpus: &[usize], i: usize) -> usize {
    cpus[i % cpus.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mask_is_not_empty_and_executors_take_its_cpus_in_turn() {
        let cpus = super::allowed();
        assert!(!cpus.is_empty());
        assert_eq!(super::nth(&[2, 5], 0), 2);
        assert_eq!(super::nth(&[2, 5], 3), 5);
    }
}
