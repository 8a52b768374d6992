/**
 * Types for `quadprog` 1.6 (a JavaScript port of R's quadprog, Goldfarb–Idnani dual method), which ships
 * none. It solves
 *
 *     min  −dᵀb + ½ bᵀDb   subject to   Aᵀb ≥ b₀   (the first `meq` constraints as equalities)
 *
 * Every array is 1-BASED like the Fortran original: index 0 is ignored, `Dmat[i][j]` for i, j in 1..n,
 * `dvec[i]` for i in 1..n, `Amat[i][k]` is variable i (1..n) in constraint k (1..q), `bvec[k]` for k in 1..q.
 * `Dmat` and `dvec` are overwritten (Cholesky factor, unconstrained solution): pass fresh copies.
 */
declare module 'quadprog' {
  /** The solver ran; `message` is '' on success, else why it failed (the other fields are then meaningless). */
  export interface QuadprogSolution {
    /** 1-based: `solution[1..n]`. */
    solution: number[];
    /** 1-based Lagrange multipliers, one per constraint. */
    Lagrangian: number[];
    /** `value[1]` is the objective at the solution. */
    value: number[];
    unconstrained_solution: number[];
    /** `iterations[1]` iterations, `iterations[2]` constraints dropped from the active set. */
    iterations: number[];
    /** 1-based indices of the active constraints. */
    iact: number[];
    /** '', 'constraints are inconsistent, no solution!' or 'matrix D in quadratic function is not positive definite!' */
    message: string;
  }

  /** Dimensions did not match: nothing was solved and only `message` is set. */
  export interface QuadprogInputError {
    message: string;
    solution?: undefined;
  }

  /**
   * @param meq the first `meq` columns of `Amat` are equality constraints (default 0)
   * @param factorized `[0, 1]` when `Dmat` already holds R⁻¹ of D = RᵀR (default `[0, 0]`: factorize here)
   */
  export function solveQP(
    Dmat: number[][],
    dvec: number[],
    Amat: number[][],
    bvec?: number[],
    meq?: number,
    factorized?: number[],
  ): QuadprogSolution | QuadprogInputError;
}
