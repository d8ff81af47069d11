// An action's building blocks in one import: its request (request.ts), its decision (decision.ts), how the decision
// is made visible (report.ts) and answered over HTTP (answer.ts).
export type { ActionOutcome, HttpAnswer } from './answer.ts';
export { answer, errorAnswer } from './answer.ts';
export type { ActionDeps, ActionLogic, Decision } from './decision.ts';
export { runAction } from './report.ts';
export type { ActionRequest } from './request.ts';
export { parseCloudEventRequest, parsePlainRequest } from './request.ts';
