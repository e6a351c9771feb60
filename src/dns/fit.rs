//! Fitting a response into the client's size limit (RFC 1035 §4.2.1, RFC 2181 §9).
//!
//! Records are kept in section order while they fit. Additional records that do not fit are
//! left out quietly: TC is set only when an answer or authority record had to go. A fitted
//! message always ends at its last counted record.

/// How many records of each section go into the message, and whether TC is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Take {
    /// Answer records, from the first.
    pub(crate) answers: usize,
    /// Authority records, from the first.
    pub(crate) authority: usize,
    /// Additional records, from the first (the OPT record is always added).
    pub(crate) additional: usize,
    /// The TC flag.
    pub(crate) truncated: bool,
}

impl Take {
    /// Every record of sections of these lengths.
    pub(crate) fn all(lens: [usize; 3]) -> Self {
        Self {
            answers: lens[0],
            authority: lens[1],
            additional: lens[2],
            truncated: false,
        }
    }
}

/// The encoding of the largest selection that fits, by `emit`, which returns `Ok(None)` when
/// the message it builds for a [`Take`] is over the limit. Section sizes grow with their record
/// counts, so each count is found by bisection; a response that fits whole is encoded once.
pub(crate) fn fit<T, E>(
    lens: [usize; 3],
    mut emit: impl FnMut(Take) -> Result<Option<T>, E>,
) -> Result<Option<(T, Take)>, E> {
    let all = Take::all(lens);
    if let Some(t) = emit(all)? {
        return Ok(Some((t, all)));
    }
    let no_glue = Take {
        additional: 0,
        ..all
    };
    if lens[2] > 0 {
        if let Some(t) = emit(no_glue)? {
            // Everything that matters fits: drop the glue that does not, keep TC clear.
            let best = (t, no_glue);
            return largest(best, 1, lens[2] - 1, |n| {
                let take = Take {
                    additional: n,
                    ..all
                };
                Ok(emit(take)?.map(|t| (t, take)))
            });
        }
    }
    let cut = |answers, authority| Take {
        answers,
        authority,
        additional: 0,
        truncated: true,
    };
    let Some(t) = emit(cut(0, 0))? else {
        return Ok(None);
    };
    let best = largest((t, cut(0, 0)), 1, lens[0], |n| {
        Ok(emit(cut(n, 0))?.map(|t| (t, cut(n, 0))))
    })?;
    match best {
        Some(b) if b.1.answers == lens[0] && lens[1] > 0 => largest(b, 1, lens[1], |n| {
            Ok(emit(cut(lens[0], n))?.map(|t| (t, cut(lens[0], n))))
        }),
        b => Ok(b),
    }
}

/// The result for the largest `n` in `lo..=hi` that `try_n` accepts, or `best` (which stands
/// for `lo - 1`) when none does. Acceptance must be monotone: true up to some `n`, then false.
fn largest<T, E>(
    best: (T, Take),
    mut lo: usize,
    mut hi: usize,
    mut try_n: impl FnMut(usize) -> Result<Option<(T, Take)>, E>,
) -> Result<Option<(T, Take)>, E> {
    let mut best = best;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match try_n(mid)? {
            Some(found) => {
                best = found;
                lo = mid + 1;
            }
            None => hi = mid - 1,
        }
    }
    Ok(Some(best))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of a 20-byte header and question, records of the given sizes, and a limit.
    fn run(sizes: [&[usize]; 3], limit: usize) -> (Take, usize) {
        let lens = [sizes[0].len(), sizes[1].len(), sizes[2].len()];
        let mut calls = 0;
        let (len, take) = fit::<usize, ()>(lens, |t| {
            calls += 1;
            let len = 20
                + sizes[0][..t.answers].iter().sum::<usize>()
                + sizes[1][..t.authority].iter().sum::<usize>()
                + sizes[2][..t.additional].iter().sum::<usize>();
            Ok((len <= limit).then_some(len))
        })
        .unwrap()
        .unwrap();
        assert!(len <= limit);
        (take, calls)
    }

    fn take(answers: usize, authority: usize, additional: usize, truncated: bool) -> Take {
        Take {
            answers,
            authority,
            additional,
            truncated,
        }
    }

    #[test]
    fn table() {
        let ten = &[10usize; 10][..];
        let none = &[][..];
        let cases: &[(&str, [&[usize]; 3], usize, Take)] = &[
            ("fits whole", [ten, none, ten], 512, take(10, 0, 10, false)),
            ("exact fit", [ten, none, ten], 220, take(10, 0, 10, false)),
            (
                "glue dropped, TC clear",
                [ten, none, ten],
                175,
                take(10, 0, 5, false),
            ),
            ("no glue fits", [ten, none, ten], 125, take(10, 0, 0, false)),
            (
                "answers cut: TC",
                [ten, none, ten],
                115,
                take(9, 0, 0, true),
            ),
            (
                "authority cut: TC",
                [ten, ten, none],
                175,
                take(10, 5, 0, true),
            ),
            (
                "nothing fits: TC",
                [&[600], none, none],
                512,
                take(0, 0, 0, true),
            ),
            ("empty", [none, none, none], 512, take(0, 0, 0, false)),
        ];
        for (name, sizes, limit, want) in cases {
            assert_eq!(run(*sizes, *limit).0, *want, "{name}");
        }
    }

    #[test]
    fn whole_fit_is_one_encoding_and_cuts_are_logarithmic() {
        let many = vec![10usize; 1000];
        assert_eq!(run([&many, &[], &[]], 20_000).1, 1);
        let (t, calls) = run([&many, &[], &many], 5_020);
        assert_eq!(t, take(500, 0, 0, true));
        assert!(calls <= 3 + 11, "{calls} encodings");
    }

    #[test]
    fn header_too_big_gives_nothing() {
        let r = fit::<(), ()>([1, 0, 0], |_| Ok(None)).unwrap();
        assert!(r.is_none());
    }
}
