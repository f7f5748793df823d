//! Modular (RFC 1982 style) TCP sequence-number arithmetic.

use std::fmt;

/// A TCP sequence or acknowledgement number. All comparisons are modular (wrap at 2^32):
/// `a` is "before" `b` when `(a - b) as i32 < 0`. There is deliberately no `Ord` impl.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl std::ops::Add<u32> for SeqNum {
    type Output = SeqNum;
    /// `self + n` modulo 2^32.
    #[inline]
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl std::ops::Sub<u32> for SeqNum {
    type Output = SeqNum;
    /// `self - n` modulo 2^32.
    #[inline]
    fn sub(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(n))
    }
}

impl SeqNum {
    /// Signed distance `self - other` (positive when `self` is after `other`).
    #[inline]
    pub fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
    /// `self` is strictly before `other`.
    #[inline]
    pub fn lt(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }
    /// `self` is before or equal to `other`.
    #[inline]
    pub fn le(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }
    /// `self` is strictly after `other`.
    #[inline]
    pub fn gt(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20;
        assert_eq!(b, SeqNum(9));
        assert!(a.lt(b));
        assert!(b.gt(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert!(a.le(a) && !a.lt(a));
        assert_eq!(b - 20, a);
    }
}
