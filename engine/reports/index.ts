/**
 * engine/reports — interval aggregation of call records, report queries and exports, the
 * broadcast schedule, surge mode and the staffing forecast (ARCHITECTURE.md, layers). The only
 * door of the folder; definitions of every figure in docs/reports.md.
 */
export {
  BUCKET_MS, SUM_MEASURES, MAX_MEASURES, bucketOf, contribution, measureContext, abandonStage, derive, addFigures, zeroFigures,
  type Figures, type SumMeasure, type MaxMeasure, type RecordKey, type ReportCdr, type MeasureContext, type AgentTime, type Derived,
} from './measures.ts';
export { agentTimeKind, sliceSpell, type AgentSpell, type AgentTimeKind, type AgentTimeSlice } from './agent-time.ts';
export { SqliteReports, type SqliteReportsOptions, type AgentStateChange } from './aggregator.ts';
export {
  ReportQueries, batchReport, intervalStart, DIMENSIONS, INTERVALS,
  type Dimension, type Interval, type ReportQuery, type ReportRow, type ReportQueriesOptions,
} from './query.ts';
export { REPORT_MIGRATIONS } from './schema.ts';
export { attachOrders, ordersApply, withOrders, type OrderBucket, type OrderFigures, type OrdersPort } from './orders.ts';
export { reportTable, toCsv, toXlsx, type Cell, type ReportTable } from './export.ts';
export {
  SqliteSchedule, AiringIndex, parseScheduleYaml, parseScheduleCsv, parseScheduleFile, attributeRoute, importScheduleFile, SCHEDULE_ERRORS, SCHEDULE_MIGRATIONS, AIRING_CSV_COLUMNS,
  programmeSchema, airingSchema, scheduleFileSchema, surgeSchema,
  type Programme, type Airing, type ScheduleData, type SurgeSettings, type ScheduleResult, type ScheduleErrorCode, type SqliteScheduleOptions,
} from './schedule.ts';
export {
  SurgeMode, surgeWindows, activeWindows, desiredSkills,
  type SkillsPort, type SurgeWindow, type SurgeReason, type SurgeTarget, type SurgeHold, type SurgeEvent, type ActiveSurge, type SurgeState, type SurgeModeOptions,
} from './surge.ts';
export { erlangC, erlangCServiceLevel, erlangAServiceLevel, agentsNeeded } from './forecast.ts';
