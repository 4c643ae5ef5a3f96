import type { BenchGoal, BenchRow } from './bench-row.js';

/** A row as printed and as JSON: the ratio and whether the goal is met, worked out once. */
export interface JudgedRow {
  readonly name: string;
  readonly ours: number | null;
  readonly floor: number | null;
  readonly unit: string;
  readonly floorTool: string;
  /** ours / floor; null without both */
  readonly ratio: number | null;
  readonly goal: string;
  /** null where there is no goal or no figure */
  readonly met: boolean | null;
  readonly note: string;
}

// The goal in the words of issue 12: "<= 1.3x raw", ">= 0.5x raw", "<= 2000 ms".
export function describeGoal(goal: BenchGoal, unit: string): string {
  switch (goal.kind) {
    case 'ratio-at-most': return `<= ${+goal.value.toFixed(2)}x floor`;
    case 'ratio-at-least': return `>= ${+goal.value.toFixed(2)}x floor`;
    case 'at-most': return `<= ${+goal.value.toFixed(1)} ${unit}`;
    case 'none': return '-';
  }
}

// A ratio goal needs both figures; an absolute goal only ours.
export function judgeBenchRow(row: BenchRow): JudgedRow {
  const ours = row.ours === undefined || Number.isNaN(row.ours) ? null : row.ours;
  const floor = row.floor === undefined || Number.isNaN(row.floor) || row.floor === 0 ? null : row.floor;
  const ratio = ours === null || floor === null ? null : ours / floor;
  let met: boolean | null = null;
  if (row.goal.kind === 'ratio-at-most' && ratio !== null) met = ratio <= row.goal.value;
  if (row.goal.kind === 'ratio-at-least' && ratio !== null) met = ratio >= row.goal.value;
  if (row.goal.kind === 'at-most' && ours !== null) met = ours <= row.goal.value;
  return { name: row.name, ours, floor, unit: row.unit, floorTool: row.floorTool, ratio, goal: describeGoal(row.goal, row.unit), met, note: row.note };
}
