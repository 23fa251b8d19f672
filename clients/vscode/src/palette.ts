import { LspPosition, LspRange } from './protocol';

/** The palette commands that run a rules action, and the action each one runs. */
export interface PaletteAction {
  command: string;
  action: string;
  /** The shipped rules' title of the action, so palette and lightbulb use the same name. */
  title: string;
  needsInstruction: boolean;
}

/** One command per action of the shipped rules (rules/default.yaml), except the quick fix for
 * diagnostics, which only makes sense from the lightbulb on a diagnostic. */
export const PALETTE_ACTIONS: readonly PaletteAction[] = [
  { command: 'modelrouter.fixTypo', action: 'fix-typo', title: 'Fix typo', needsInstruction: false },
  { command: 'modelrouter.format', action: 'format', title: 'Format', needsInstruction: false },
  { command: 'modelrouter.organizeImports', action: 'organize-imports', title: 'Organize imports', needsInstruction: false },
  { command: 'modelrouter.addDocstring', action: 'add-docstring', title: 'Add docstring', needsInstruction: false },
  { command: 'modelrouter.explain', action: 'explain', title: 'Explain', needsInstruction: false },
  { command: 'modelrouter.implement', action: 'implement', title: 'Implement', needsInstruction: false },
  { command: 'modelrouter.refactor', action: 'refactor', title: 'Refactor', needsInstruction: false },
  { command: 'modelrouter.writeTests', action: 'write-tests', title: 'Write tests', needsInstruction: false },
  { command: 'modelrouter.designThis', action: 'design', title: 'Design', needsInstruction: false },
  { command: 'modelrouter.ask', action: 'ask', title: 'Ask…', needsInstruction: true },
];

/** The title of the code action that re-runs model-written code one tier up. */
export const REDO_TITLE = 'Redo with a stronger model';

/**
 * The range a palette command works on: the selection, or the whole current line when the
 * selection is empty. `lineLength` gives a line's length in UTF-16 code units.
 */
export function actionRange(
  selection: { start: LspPosition; end: LspPosition; isEmpty: boolean },
  lineLength: (line: number) => number,
): LspRange {
  if (selection.isEmpty) {
    const line = selection.start.line;
    return { start: { line, character: 0 }, end: { line, character: lineLength(line) } };
  }
  return {
    start: { line: selection.start.line, character: selection.start.character },
    end: { line: selection.end.line, character: selection.end.character },
  };
}
