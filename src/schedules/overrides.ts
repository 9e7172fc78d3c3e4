/**
 * `config.schedules`: the operator's say over every schedule, built-in or an integration's: a
 * different cron or time zone, or `enabled: false` to turn it off.
 */
import type { ScheduleDefinition, ScheduleOverrides } from './types.js';

export interface ConfiguredSchedules {
  /** The schedules to run, overrides applied. */
  readonly schedules: readonly ScheduleDefinition[];
  /** The ones turned off (`enabled: false`), their other overrides applied: they can still be run by hand. */
  readonly disabled: readonly ScheduleDefinition[];
  /** Names in `config.schedules` that match no schedule (a typo, or an integration not configured). */
  readonly unknownNames: readonly string[];
}

export function applyScheduleOverrides(definitions: readonly ScheduleDefinition[], overrides: ScheduleOverrides): ConfiguredSchedules {
  const schedules: ScheduleDefinition[] = [];
  const disabled: ScheduleDefinition[] = [];
  for (const definition of definitions) {
    const override = overrides[definition.name];
    const configured: ScheduleDefinition =
      override === undefined
        ? definition
        : {
            ...definition,
            // A definition may be a class instance: its method does not spread.
            run: definition.run.bind(definition),
            ...(override.cron !== undefined ? { cron: override.cron } : {}),
            ...(override.timezone !== undefined ? { timezone: override.timezone } : {}),
          };
    (override?.enabled === false ? disabled : schedules).push(configured);
  }
  const known = new Set(definitions.map((definition) => definition.name));
  return { schedules, disabled, unknownNames: Object.keys(overrides).filter((name) => !known.has(name)) };
}
