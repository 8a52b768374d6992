declare module 'quadprog' {
  /** Goldfarb–Idnani: min −dᵀx + ½xᵀDx subject to Aᵀx ≥ b (the first `meq` as equalities). 1-based arrays. */
  export function solveQP(
    Dmat: number[][],
    dvec: number[],
    Amat: number[][],
    bvec: number[],
    meq?: number,
  ): { solution: number[]; value: number[]; message: string };
}
