//! A tournament tree of losers for k-way merging.
//!
//! Each inner node remembers the loser of the match played there; the root slot holds
//! the overall winner. Replacing the winner's value costs one walk from its leaf to the
//! root: `log2(k)` comparisons, against `k - 1` for a linear scan.

/// The losers of a k-way tournament. Inputs are compared through a closure so that the
/// tree owns no data and can be replayed over any cursor set.
#[derive(Debug, Clone)]
pub(crate) struct LoserTree {
    /// `nodes[0]` is the winner; `nodes[1..k]` are the losers at the inner nodes.
    nodes: Vec<usize>,
}

const EMPTY: usize = usize::MAX;

impl LoserTree {
    /// A tree for `k` inputs; call [`init`](Self::init) before use.
    pub(crate) fn new(k: usize) -> Self {
        Self {
            nodes: vec![EMPTY; k.max(1)],
        }
    }

    fn leaf(&self, input: usize) -> usize {
        (self.nodes.len() + input) / 2
    }

    /// Plays every input in. `greater(a, b)` says input `a` sorts after input `b`
    /// (ties must be broken, e.g. by input index, for a stable merge).
    pub(crate) fn init(&mut self, mut greater: impl FnMut(usize, usize) -> bool) {
        let k = self.nodes.len();
        self.nodes.fill(EMPTY);
        for input in 0..k {
            let mut winner = input;
            let mut node = self.leaf(input);
            while node != 0 && self.nodes[node] != EMPTY {
                let challenger = self.nodes[node];
                if greater(winner, challenger) {
                    self.nodes[node] = winner;
                    winner = challenger;
                }
                node /= 2;
            }
            self.nodes[node] = winner;
        }
    }

    /// The input that sorts first.
    #[inline]
    pub(crate) fn winner(&self) -> usize {
        self.nodes[0]
    }

    /// The input that sorts second (`None` with a single input): it lost to the winner
    /// directly, so it is the best of the losers on the winner's path.
    pub(crate) fn runner_up(&self, mut greater: impl FnMut(usize, usize) -> bool) -> Option<usize> {
        let mut node = self.leaf(self.nodes[0]);
        let mut best: Option<usize> = None;
        while node != 0 {
            let c = self.nodes[node];
            if c != EMPTY {
                best = match best {
                    Some(b) if !greater(b, c) => Some(b),
                    _ => Some(c),
                };
            }
            node /= 2;
        }
        best
    }

    /// Replays the winner's path after its value changed (advanced or exhausted).
    #[inline]
    pub(crate) fn replay(&mut self, mut greater: impl FnMut(usize, usize) -> bool) {
        let mut winner = self.nodes[0];
        let mut node = self.leaf(winner);
        while node != 0 {
            let challenger = self.nodes[node];
            // selects, not a branch: which input wins is data the branch predictor cannot
            // learn when inputs interleave
            let swap = greater(winner, challenger);
            self.nodes[node] = if swap { winner } else { challenger };
            winner = if swap { challenger } else { winner };
            node /= 2;
        }
        self.nodes[0] = winner;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merges sorted vectors with the tree; exhausted inputs sort last.
    fn merge(inputs: Vec<Vec<i32>>) -> Vec<(i32, usize)> {
        let mut pos = vec![0usize; inputs.len()];
        let mut tree = LoserTree::new(inputs.len());
        let greater = |pos: &[usize], a: usize, b: usize| -> bool {
            match (inputs[a].get(pos[a]), inputs[b].get(pos[b])) {
                (None, _) => true,
                (_, None) => false,
                (Some(x), Some(y)) => (x, a) > (y, b),
            }
        };
        tree.init(|a, b| greater(&pos, a, b));
        let mut out = Vec::new();
        loop {
            let w = tree.winner();
            let Some(v) = inputs[w].get(pos[w]) else {
                break;
            };
            out.push((*v, w));
            pos[w] += 1;
            tree.replay(|a, b| greater(&pos, a, b));
        }
        out
    }

    #[test]
    fn merges_in_order_and_stable_by_input() {
        let out = merge(vec![vec![1, 4, 4, 9], vec![2, 4], vec![], vec![0, 10]]);
        let values: Vec<i32> = out.iter().map(|(v, _)| *v).collect();
        assert_eq!(values, vec![0, 1, 2, 4, 4, 4, 9, 10]);
        let fours: Vec<usize> = out.iter().filter(|(v, _)| *v == 4).map(|(_, i)| *i).collect();
        assert_eq!(fours, vec![0, 0, 1]);
    }

    #[test]
    fn single_and_many_inputs() {
        assert_eq!(merge(vec![vec![3, 5]]), vec![(3, 0), (5, 0)]);
        let inputs: Vec<Vec<i32>> = (0..13).map(|i| (0..5).map(|j| j * 13 + i).collect()).collect();
        let values: Vec<i32> = merge(inputs).into_iter().map(|(v, _)| v).collect();
        assert_eq!(values, (0..65).collect::<Vec<_>>());
    }
}
